"""The endpoint page's "Forward the messages it missed": a page saying how many, in the
operator's language, then the bot admin's confirmation; operators only see their bots'."""

import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from audit.models import OperatorAction
from forwarding import recovery
from forwarding.drains import drain_endpoints
from forwarding.endpoints import change_endpoint
from forwarding.models import WebhookEndpoint
from forwarding.tasks import recover_missed_rest
from messaging.status_labels import clock_time
from tests.messaging.support import callback_body, create_pending_deliveries


@pytest.fixture
def endpoint(hooked_bot):
    return WebhookEndpoint.objects.get(bot=hooked_bot, is_primary=True)


@pytest.fixture
def admin(make_operator, hooked_bot):
    return make_operator("alice", hooked_bot)


@pytest.fixture
def missed_two(hooked_bot, endpoint, admin, post_callback):
    """The endpoint was switched off while two messages came, then on again."""
    change_endpoint(admin, endpoint, is_active=False)
    for msgid in ("off-1", "off-2"):
        assert post_callback(callback_body("text", hooked_bot, msgid=msgid)).json()["errcode"] == 0
    create_pending_deliveries()
    change_endpoint(admin, endpoint, is_active=True)
    endpoint.refresh_from_db()
    return endpoint


def page_text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_a_bot_admin_is_told_how_many_then_forwards_them_once(
    client, hooked_bot, admin, missed_two, receiver
):
    client.force_login(admin)
    endpoint_page = reverse("console:webhook", args=[hooked_bot.pk, missed_two.pk])
    recover = reverse("console:webhook_recover", args=[hooked_bot.pk, missed_two.pk])
    with timezone.override(ZoneInfo("Asia/Shanghai")):  # the bot's: it names none
        with translation.override("zh-hans"):
            since_zh = f"{clock_time(missed_two.stopped_at)} CST"
        with translation.override("en"):
            since_en = f"{clock_time(missed_two.stopped_at)} CST"

    assert f"补发它自 {since_zh} 起错过的消息" in page_text(client.get(endpoint_page))
    chinese = page_text(client.get(recover))
    client.cookies["django_language"] = "en"
    english = page_text(client.get(recover))
    assert f"将向该端点转发自 {since_zh} 起的 2 条消息。" in chinese
    assert f"2 messages since {since_en} will be forwarded to this endpoint." in english
    assert "Forward 2 messages" in english
    assert receiver.requests == []  # counting sent nothing

    form = re.search(r'name="since" value="([^"]+)"', client.get(recover).content.decode())
    done = client.post(recover, {"since": form[1]}, follow=True)
    again = client.post(recover, {"since": form[1]}, follow=True)  # a second click
    drain_endpoints([missed_two.pk])

    assert "2 missed messages queued for this endpoint" in page_text(done)
    assert "This endpoint missed no message in this period." in page_text(again)
    assert sorted(json.loads(r.body)["msgid"] for r in receiver.requests) == ["off-1", "off-2"]
    (action,) = OperatorAction.objects.filter(action="endpoint.recover_missed")
    assert action.actor == admin and action.details["count"] == 2
    audit = page_text(client.get(reverse("console:operator_actions")))
    assert "Forwarded the messages a webhook endpoint missed" in audit
    assert "2 deliveries, of messages received from" in audit


def test_an_operator_who_may_not_manage_endpoints_or_of_another_bot_cannot(
    client, make_operator, make_bot, hooked_bot, missed_two
):
    recover = reverse("console:webhook_recover", args=[hooked_bot.pk, missed_two.pk])
    reader = make_operator("reader", hooked_bot)
    reader.user_permissions.remove(*reader.user_permissions.filter(codename="administer_bot"))
    client.force_login(reader)
    assert client.get(recover).status_code == 403
    assert client.post(recover, {"since": timezone.now().isoformat()}).status_code == 403
    client.force_login(make_operator("rival", make_bot(name="rival")))
    assert client.get(recover).status_code == 404
    assert not missed_two.deliveries.exists()


def test_the_time_is_shown_and_read_in_the_bots_time_zone(
    client, hooked_bot, admin, missed_two, settings
):
    settings.TIME_ZONE = "UTC"  # the server's differs from the bot's
    hooked_bot.timezone = "America/New_York"
    hooked_bot.save(update_fields=["timezone"])
    new_york = ZoneInfo("America/New_York")
    client.force_login(admin)
    client.cookies["django_language"] = "en"
    recover = reverse("console:webhook_recover", args=[hooked_bot.pk, missed_two.pk])
    endpoint_page = reverse("console:webhook", args=[hooked_bot.pk, missed_two.pk])
    stopped = timezone.localtime(missed_two.stopped_at, new_york)
    zone = stopped.strftime("%Z")  # EST or EDT
    with timezone.override(new_york):
        shown = f"{clock_time(missed_two.stopped_at)} {zone}"

    page = client.get(recover).content.decode()
    assert f'value="{stopped:%Y-%m-%dT%H:%M}"' in page
    assert f"2 messages since {shown} will be forwarded" in page_text(client.get(recover))
    assert f"Forward the messages it missed since {shown}" in page_text(client.get(endpoint_page))

    typed = stopped - timedelta(hours=1)  # "Count again" with a time typed in New York's
    counted = client.get(recover, {"since": f"{typed:%Y-%m-%dT%H:%M}"})
    hidden = re.search(r'type="hidden" name="since" value="([^"]+)"', counted.content.decode())[1]
    assert datetime.fromisoformat(hidden) == typed.replace(second=0, microsecond=0)
    assert f'value="{typed:%Y-%m-%dT%H:%M}"' in counted.content.decode()


@pytest.mark.parametrize(
    "language, error",
    [("en", "Enter a valid date/time."), ("zh-hans", "输入一个有效的日期/时间。")],
)
def test_an_unreadable_time_is_said_so_not_replaced_by_the_default(
    client, hooked_bot, admin, missed_two, language, error
):
    client.force_login(admin)
    client.cookies["django_language"] = language
    recover = reverse("console:webhook_recover", args=[hooked_bot.pk, missed_two.pk])

    response = client.get(recover, {"since": "yesterday-ish"})

    assert response.status_code == 400
    assert error in page_text(response)
    assert 'id="recover-form"' not in response.content.decode()  # no count of another period


def test_a_big_recovery_goes_on_in_a_task_and_its_page_shows_how_far(
    client, hooked_bot, admin, missed_two, post_callback, receiver, monkeypatch
):
    monkeypatch.setattr(recovery, "RECOVER_BATCH", 2)
    change_endpoint(admin, missed_two, is_active=False)
    assert post_callback(callback_body("text", hooked_bot, msgid="off-3")).json()["errcode"] == 0
    create_pending_deliveries()
    change_endpoint(admin, missed_two, is_active=True)
    client.force_login(admin)
    client.cookies["django_language"] = "en"
    recover = reverse("console:webhook_recover", args=[hooked_bot.pk, missed_two.pk])
    endpoint_page = reverse("console:webhook", args=[hooked_bot.pk, missed_two.pk])
    since = (timezone.now() - timedelta(days=1)).isoformat()

    started = page_text(client.post(recover, {"since": since}, follow=True))
    assert "2 of 3 missed messages queued for this endpoint; the rest are being queued" in started
    assert "2 of 3 queued so far" in started
    client.cookies["django_language"] = "zh-hans"
    assert "已排队 2 条，共 3 条" in page_text(client.get(endpoint_page))

    (action,) = OperatorAction.objects.filter(action="endpoint.recover_missed")
    recover_missed_rest(action.pk)  # the worker
    drain_endpoints([missed_two.pk])

    assert "已完成，共排队 3 条消息" in page_text(client.get(endpoint_page))
    client.cookies["django_language"] = "en"
    assert "done, 3 messages queued" in page_text(client.get(endpoint_page))
    assert sorted(json.loads(r.body)["msgid"] for r in receiver.requests) == [
        "off-1",
        "off-2",
        "off-3",
    ]
    action.refresh_from_db()
    assert action.details["count"] == 3


@pytest.mark.parametrize(
    "language, moved",
    [
        ("en", "The time typed was more than 7 days ago: moved to the earliest allowed."),
        ("zh-hans", "输入的时间早于 7 天前：已改为允许的最早时间。"),
    ],
)
def test_a_time_before_the_last_seven_days_is_moved_to_the_earliest_and_said_so(
    client, hooked_bot, admin, missed_two, language, moved
):
    client.force_login(admin)
    client.cookies["django_language"] = language
    recover = reverse("console:webhook_recover", args=[hooked_bot.pk, missed_two.pk])

    before = timezone.now() - timedelta(days=recovery.RECOVER_DAYS)
    page = client.get(recover, {"since": "2020-01-01T00:00"})
    after = timezone.now() - timedelta(days=recovery.RECOVER_DAYS)

    assert page.status_code == 200
    assert moved in page_text(page)
    shanghai = ZoneInfo("Asia/Shanghai")  # the bot's: it names none
    shown = re.search(r'type="datetime-local" name="since" value="([^"]+)"', page.content.decode())
    assert shown[1] in {
        f"{timezone.localtime(before, shanghai):%Y-%m-%dT%H:%M}",
        f"{timezone.localtime(after, shanghai):%Y-%m-%dT%H:%M}",
    }  # not 2020
    hidden = re.search(r'type="hidden" name="since" value="([^"]+)"', page.content.decode())[1]
    assert before <= datetime.fromisoformat(hidden) <= after
    assert "moved" not in page_text(client.get(recover)) and "已改为" not in page_text(
        client.get(recover)
    )
