"""The endpoint page's "Forward the messages it missed": a page saying how many, in the
operator's language, then the bot admin's confirmation; operators only see their bots'."""

import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from audit.models import OperatorAction
from forwarding.drains import drain_endpoints
from forwarding.endpoints import change_endpoint
from forwarding.models import WebhookEndpoint
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
    with translation.override("zh-hans"):
        since_zh = clock_time(missed_two.stopped_at)
    with translation.override("en"):
        since_en = clock_time(missed_two.stopped_at)

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
