"""The admin for forwarding: health, attempts, replays keeping the webhook-id, test events, scoping."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from audit.models import OperatorAction
from audit.services import record_action
from forwarding.models import WebhookDelivery, WebhookEndpoint
from forwarding.replay import TEST_EVENT_OUTCOME_DUE
from tests.db_faults import fails_midway
from tests.html_forms import submitted_form
from tests.messaging.support import callback_body, create_pending_deliveries, forward_due


def _in_english(client):
    """The language switcher's choice (the UI is Chinese otherwise)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def _failed_delivery(bot, receiver, post_callback) -> WebhookDelivery:
    """A delivery whose whole retry schedule failed (as the scheduler leaves it)."""
    post_callback(callback_body("text", bot))
    receiver.respond(500, b"down")
    forward_due()
    WebhookDelivery.objects.update(status="failed", next_attempt_at=None)
    return WebhookDelivery.objects.get()


@pytest.fixture
def failed_delivery(hooked_bot, receiver, post_callback):
    return _failed_delivery(hooked_bot, receiver, post_callback)


def test_the_endpoint_list_shows_health_and_the_disabled_reason(
    client, superuser, hooked_bot, failed_delivery
):
    WebhookEndpoint.objects.update(disabled_at=timezone.now(), disabled_reason="3 days")
    client.force_login(superuser)
    _in_english(client)

    page = client.get(reverse("admin:forwarding_webhookendpoint_changelist"))

    assert page.status_code == 200
    html = page.content.decode()
    assert hooked_bot.webhook_url in html
    assert "deliveries kept failing for 3 days" in html


def test_the_endpoint_list_counts_one_failure_in_the_singular(
    client, superuser, hooked_bot, failed_delivery
):
    WebhookEndpoint.objects.update(failure_streak=1, failing_since=timezone.now())
    client.force_login(superuser)
    _in_english(client)

    html = client.get(reverse("admin:forwarding_webhookendpoint_changelist")).content.decode()

    assert "1 failure in a row since" in html


def test_a_delivery_page_shows_its_attempts(client, superuser, failed_delivery):
    client.force_login(superuser)
    _in_english(client)

    page = client.get(reverse("admin:forwarding_webhookdelivery_change", args=[failed_delivery.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert failed_delivery.webhook_id in html
    assert "down" in html and "500" in html


def test_replaying_one_delivery_sends_it_again_with_the_same_webhook_id_and_is_audited(
    client, superuser, receiver, failed_delivery
):
    client.force_login(superuser)
    receiver.respond(200)

    client.post(reverse("admin:forwarding_webhookdelivery_replay", args=[failed_delivery.pk]))
    assert forward_due() == ["success"]

    failed_delivery.refresh_from_db()
    assert failed_delivery.status == "delivered" and failed_delivery.replay_count == 1
    first, replayed = receiver.requests
    assert first.headers["webhook-id"] == replayed.headers["webhook-id"]
    action = OperatorAction.objects.get(action="delivery.replay")
    assert action.actor == superuser and action.target_id == str(failed_delivery.pk)


def test_replaying_the_failed_deliveries_of_a_period_leaves_the_others(
    client, superuser, hooked_bot, receiver, post_callback, failed_delivery
):
    old = failed_delivery
    WebhookDelivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=5))
    post_callback(callback_body("link", hooked_bot))
    forward_due()
    WebhookDelivery.objects.filter(status="pending").update(status="failed")
    recent = WebhookDelivery.objects.exclude(pk=old.pk).get()
    client.force_login(superuser)
    endpoint = old.endpoint
    now = timezone.localtime()

    _in_english(client)

    response = client.post(
        reverse("admin:forwarding_webhookendpoint_replay_failed", args=[endpoint.pk]),
        {
            "start": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "end": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
        },
    )

    assert response.status_code == 302
    assert "1 failed delivery queued again." in client.get(response.url).content.decode()
    assert WebhookDelivery.objects.get(pk=recent.pk).status == "pending"
    assert WebhookDelivery.objects.get(pk=old.pk).status == "failed"
    assert OperatorAction.objects.filter(action="delivery.replay_many").count() == 1


def test_send_test_event_posts_a_signed_sample_and_shows_the_answer(
    client, superuser, hooked_bot, receiver
):
    receiver.respond(202, b'{"received": true}')
    endpoint = WebhookEndpoint.objects.get(bot=hooked_bot)
    client.force_login(superuser)
    _in_english(client)

    page = client.post(reverse("admin:forwarding_webhookendpoint_test_event", args=[endpoint.pk]))

    html = page.content.decode()
    assert "202" in html and "{&quot;received&quot;: true}" in html
    (request,) = receiver.requests
    payload = Webhook(endpoint.signing_secret).verify(request.body, request.headers)
    assert payload["msgtype"] == "text" and payload["secret"] == hooked_bot.secret
    assert not WebhookDelivery.objects.exists()


def test_the_audit_list_says_a_test_events_outcome_and_when_it_will_never_come(
    client, superuser, hooked_bot, receiver
):
    """As the console's operator actions do: a test event recorded "sending" whose process
    stopped during the send is shown, past the time its answer was due, as unknown, not
    as sending forever; in the reader's language."""
    receiver.respond(202, b"ok")
    endpoint = WebhookEndpoint.objects.get(bot=hooked_bot)
    client.force_login(superuser)
    client.post(reverse("admin:forwarding_webhookendpoint_test_event", args=[endpoint.pk]))
    stopped = record_action(
        superuser, "endpoint.test", bot=hooked_bot, target=endpoint, summary="sending"
    )
    long_ago = timezone.now() - TEST_EVENT_OUTCOME_DUE - timedelta(seconds=1)
    OperatorAction.objects.filter(pk=stopped.pk).update(created_at=long_ago)
    record_action(superuser, "endpoint.test", bot=hooked_bot, target=endpoint, summary="sending")
    url = reverse("admin:audit_operatoraction_changelist")

    chinese = client.get(url).content.decode()
    _in_english(client)
    english = client.get(url).content.decode()

    assert chinese.count("结果未知（发送时进程已停止）") == 1
    assert chinese.count("发送中，尚无应答") == 1
    assert "成功 · HTTP 202" in chinese
    assert english.count("Outcome unknown (the process stopped during the send)") == 1
    assert english.count("Sending, no answer yet") == 1
    assert "Success · HTTP 202" in english
    assert ">sending<" not in chinese + english


def test_a_test_events_audit_page_says_its_outcome_as_the_list_does(
    client, superuser, hooked_bot, receiver
):
    """The admin's page of one entry showed the stored "sending" (the summary written
    before the send) where the list and the console show the outcome."""
    receiver.respond(202, b"ok")
    endpoint = WebhookEndpoint.objects.get(bot=hooked_bot)
    client.force_login(superuser)
    _in_english(client)
    client.post(reverse("admin:forwarding_webhookendpoint_test_event", args=[endpoint.pk]))
    answered = OperatorAction.objects.get(action="endpoint.test")
    stopped = record_action(
        superuser, "endpoint.test", bot=hooked_bot, target=endpoint, summary="sending"
    )
    long_ago = timezone.now() - TEST_EVENT_OUTCOME_DUE - timedelta(seconds=1)
    OperatorAction.objects.filter(pk=stopped.pk).update(created_at=long_ago)
    waiting = record_action(
        superuser, "endpoint.test", bot=hooked_bot, target=endpoint, summary="sending"
    )

    def page(action) -> str:
        url = reverse("admin:audit_operatoraction_change", args=[action.pk])
        response = client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    assert "Success · HTTP 202" in page(answered)
    assert "Outcome unknown (the process stopped during the send)" in page(stopped)
    assert "Sending, no answer yet" in page(waiting)
    for action in (stopped, waiting):
        described = page(action).split("field-description")[1].split("field-recorded_summary")[0]
        assert ">sending<" not in described  # stored before the send: shown as recorded only


def test_the_endpoint_page_offers_test_and_replay(client, superuser, hooked_bot):
    endpoint = WebhookEndpoint.objects.get(bot=hooked_bot)
    client.force_login(superuser)
    _in_english(client)

    html = client.get(
        reverse("admin:forwarding_webhookendpoint_change", args=[endpoint.pk])
    ).content.decode()

    assert reverse("admin:forwarding_webhookendpoint_test_event", args=[endpoint.pk]) in html
    assert reverse("admin:forwarding_webhookendpoint_replay_failed", args=[endpoint.pk]) in html


def test_re_enabling_from_the_admin_resumes_waiting_deliveries(
    client, superuser, hooked_bot, receiver, failed_delivery
):
    endpoint = failed_delivery.endpoint
    WebhookEndpoint.objects.update(disabled_at=timezone.now(), disabled_reason="3 days")
    WebhookDelivery.objects.update(status="pending", next_attempt_at=timezone.now())
    receiver.respond(200)
    client.force_login(superuser)
    _in_english(client)

    page = client.post(
        reverse("admin:forwarding_webhookendpoint_changelist"),
        {"action": "reenable", "_selected_action": [endpoint.pk]},
        follow=True,
    )

    assert "1 waiting delivery resumed." in page.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.disabled_at is None
    assert forward_due() == ["success"]


@pytest.fixture
def two_endpoints_deliveries(hooked_bot, receiver, post_callback):
    """One inbound message's deliveries to the bot's two endpoints, one each."""
    WebhookEndpoint.objects.create(bot=hooked_bot, url=receiver.url("/second"))
    post_callback(callback_body("text", hooked_bot))
    create_pending_deliveries()
    deliveries = list(WebhookDelivery.objects.order_by("pk"))
    assert len({delivery.endpoint_id for delivery in deliveries}) == 2
    return deliveries


def test_re_enabling_many_endpoints_that_fails_midway_re_enables_none_and_wakes_nothing(
    client, superuser, two_endpoints_deliveries
):
    later = timezone.now() + timedelta(days=1)
    WebhookEndpoint.objects.update(disabled_at=timezone.now(), disabled_reason="3 days")
    WebhookDelivery.objects.update(status="pending", next_attempt_at=later)
    client.force_login(superuser)

    with fails_midway("endpoint.reenable") as published:
        client.post(
            reverse("admin:forwarding_webhookendpoint_changelist"),
            {
                "action": "reenable",
                "_selected_action": list(WebhookEndpoint.objects.values_list("pk", flat=True)),
            },
        )

    assert not WebhookEndpoint.objects.filter(disabled_at=None).exists()
    assert set(WebhookDelivery.objects.values_list("next_attempt_at", flat=True)) == {later}
    assert not OperatorAction.objects.filter(action="endpoint.reenable").exists()
    assert published == []


def test_replaying_many_deliveries_that_fails_midway_replays_none_and_wakes_nothing(
    client, superuser, two_endpoints_deliveries
):
    """Audited once per endpoint: the second endpoint's entry is refused."""
    WebhookDelivery.objects.update(status="failed", next_attempt_at=None)
    client.force_login(superuser)

    with fails_midway("delivery.replay") as published:
        client.post(
            reverse("admin:forwarding_webhookdelivery_changelist"),
            {"action": "replay", "_selected_action": [d.pk for d in two_endpoints_deliveries]},
        )

    assert set(WebhookDelivery.objects.values_list("status", "replay_count")) == {("failed", 0)}
    assert not OperatorAction.objects.filter(action="delivery.replay").exists()
    assert published == []


def test_operators_see_only_the_endpoints_and_deliveries_of_their_bots(
    client, make_bot, make_operator, failed_delivery
):
    mine = make_bot(webhook_url="https://example.com/mine")
    operator = make_operator("olga", mine)
    client.force_login(operator)
    theirs = failed_delivery.endpoint

    listing = client.get(reverse("admin:forwarding_webhookendpoint_changelist")).content.decode()
    assert "example.com/mine" in listing and theirs.url not in listing
    for url in (
        reverse("admin:forwarding_webhookendpoint_change", args=[theirs.pk]),
        reverse("admin:forwarding_webhookendpoint_test_event", args=[theirs.pk]),
        reverse("admin:forwarding_webhookendpoint_replay_failed", args=[theirs.pk]),
        reverse("admin:forwarding_webhookdelivery_change", args=[failed_delivery.pk]),
    ):
        assert client.get(url).status_code in (302, 404), url
    assert (
        client.post(
            reverse("admin:forwarding_webhookdelivery_replay", args=[failed_delivery.pk])
        ).status_code
        == 404
    )
    assert not OperatorAction.objects.filter(action="delivery.replay").exists()


def test_operators_who_are_no_bot_admins_cannot_replay_in_the_admin_either(
    client, make_operator, receiver, failed_delivery
):
    """The console refuses them a replay (operators only look); so does the admin."""
    viewer = make_operator("viewer", failed_delivery.endpoint.bot)
    viewer.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(viewer)

    one = client.post(reverse("admin:forwarding_webhookdelivery_replay", args=[failed_delivery.pk]))
    many = client.post(
        reverse("admin:forwarding_webhookdelivery_changelist"),
        {"action": "replay", "_selected_action": [failed_delivery.pk]},
    )
    page = client.get(
        reverse("admin:forwarding_webhookdelivery_change", args=[failed_delivery.pk])
    ).content.decode()

    assert one.status_code == 403
    assert many.status_code in (200, 302)
    failed_delivery.refresh_from_db()
    assert (failed_delivery.status, failed_delivery.replay_count) == ("failed", 0)
    assert not OperatorAction.objects.filter(action__startswith="delivery.replay").exists()
    assert reverse("admin:forwarding_webhookdelivery_replay", args=[failed_delivery.pk]) not in page
    assert len(receiver.requests) == 1  # the first, failed attempt only


def test_the_forwarding_admin_speaks_chinese_by_default(client, superuser, failed_delivery):
    client.force_login(superuser)

    html = client.get(reverse("admin:forwarding_webhookendpoint_changelist")).content.decode()

    assert "Webhook 端点" in html and "健康状况" in html
    assert "自 " in html and "连续失败" in html


def test_the_admin_keeps_an_endpoint_with_deliveries_and_records_no_deletion(
    client, superuser, failed_delivery
):
    extra = WebhookEndpoint.objects.create(
        bot=failed_delivery.endpoint.bot, url="https://b.example/"
    )
    WebhookDelivery.objects.create(endpoint=extra, message=failed_delivery.message)
    client.force_login(superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    delete_url = reverse("admin:forwarding_webhookendpoint_delete", args=[extra.pk])
    page = client.get(delete_url).content.decode()
    refused = client.post(delete_url, {"post": "yes"})
    client.post(
        reverse("admin:forwarding_webhookendpoint_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [extra.pk, failed_delivery.endpoint_id],
            "post": "yes",
        },
    )

    assert WebhookEndpoint.objects.count() == 2 and WebhookDelivery.objects.count() == 2
    assert "Cannot delete webhook endpoint" in page  # its deliveries are read-only
    assert refused.status_code == 403
    assert not OperatorAction.objects.filter(action="endpoint.delete").exists()


def _proposed_period(form) -> dict:
    return {name: form[name].value() for name in ("start", "end")}


def test_the_proposed_replay_period_holds_every_failed_delivery(
    client, superuser, hooked_bot, failed_delivery
):
    # A delivery fails once its whole schedule did, ~28 h after it was created, and one
    # refused (unsafe URL) fails at once, in the minute of the page's opening.
    long_ago = timezone.now() - timedelta(hours=28)
    WebhookDelivery.objects.filter(pk=failed_delivery.pk).update(created_at=long_ago)
    client.force_login(superuser)
    endpoint = failed_delivery.endpoint
    admin_page = reverse("admin:forwarding_webhookendpoint_replay_failed", args=[endpoint.pk])
    console_page = reverse("console:webhook", args=[hooked_bot.pk, endpoint.pk])
    proposed = _proposed_period(client.get(admin_page).context["form"])
    assert _proposed_period(client.get(console_page).context["replay_form"]) == proposed

    client.post(admin_page, proposed)

    failed_delivery.refresh_from_db()
    assert failed_delivery.status == "pending" and failed_delivery.replay_count == 1


PATH_TOKEN = "q3v8fJ2k" + "Lm9PzX7wR4tY"  # a receiver's credential in its URL's path


@pytest.fixture
def credentialed_delivery(make_bot, receiver, post_callback):
    """A failed delivery to an endpoint whose URL carries a password, a token in its path
    and a key."""
    address = receiver.url(f"/hook/{PATH_TOKEN}?token=HOOK-token")
    address = address.replace("://", "://hook:HOOK-pw@")
    bot = make_bot(name="hooked", webhook_url=address)
    return _failed_delivery(bot, receiver, post_callback)


def test_operators_who_are_no_bot_admins_see_endpoint_urls_masked_and_cannot_search_them(
    client, make_operator, credentialed_delivery
):
    endpoint = credentialed_delivery.endpoint
    assert "HOOK-pw" in endpoint.url and credentialed_delivery.attempts.get().url == endpoint.url
    viewer = make_operator("viewer", endpoint.bot)
    viewer.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(viewer)

    pages = [
        reverse("admin:forwarding_webhookendpoint_changelist"),
        reverse("admin:forwarding_webhookendpoint_change", args=[endpoint.pk]),
        reverse("admin:forwarding_webhookendpoint_test_event", args=[endpoint.pk]),
        reverse("admin:forwarding_webhookendpoint_replay_failed", args=[endpoint.pk]),
        reverse("admin:forwarding_webhookdelivery_changelist"),
        reverse("admin:forwarding_webhookdelivery_change", args=[credentialed_delivery.pk]),
    ]
    for address in pages:
        html = client.get(address).content.decode()
        assert "HOOK-pw" not in html and "HOOK-token" not in html, address
        assert PATH_TOKEN not in html, address
        assert "********@127.0.0.1" in html, address
    # A search would tell the password a character at a time.
    for changelist in ("webhookendpoint", "webhookdelivery"):
        found = client.get(reverse(f"admin:forwarding_{changelist}_changelist"), {"q": "HOOK-p"})
        assert "********@" not in found.content.decode(), changelist


def test_a_bot_admin_saving_an_endpoint_with_its_masked_url_keeps_it(
    client, superuser, make_bot, receiver
):
    bot = make_bot(name="b")
    stored = "https://hook:HOOK-pw@hooks.example.com/in?key=HOOK-key"
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=stored)
    client.force_login(superuser)
    _in_english(client)
    url = reverse("admin:forwarding_webhookendpoint_change", args=[endpoint.pk])
    page = client.get(url).content.decode()
    form = submitted_form(page, "webhookendpoint_form")
    assert "HOOK-pw" not in page and "HOOK-key" not in page
    assert form["url"] == ["https://********@hooks.example.com/in?key=********"]

    saved = client.post(url, {**form, "description": "CRM"})
    edited = client.post(url, {**form, "url": form["url"][0].replace("hooks.", "other.")})

    assert saved.status_code == 302 and edited.status_code == 200
    assert "still shows ******** in place of a password or key" in edited.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.url == stored and endpoint.description == "CRM"


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("http://169.254.169.254/latest/meta-data/", "which no webhook may reach"),
        ("http://[::ffff:a9fe:a9fe]/hook", "which no webhook may reach"),
        ("http://[fec0::1]/hook", "add its network to BOTADMIN_WEBHOOK_NETWORKS"),
        ("http://10.0.6.7:8080/in", "add its network to BOTADMIN_WEBHOOK_NETWORKS"),
        ("http://10.0.5.7:8080/in", None),
    ],
)
def test_the_admin_checks_an_endpoints_url_as_forwarding_does_when_it_is_entered(
    client, superuser, make_bot, settings, address, refusal
):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_WEBHOOK_NETWORKS = ["10.0.5.0/24"]
    bot = make_bot(name="b")
    client.force_login(superuser)
    _in_english(client)
    url = reverse("admin:forwarding_webhookendpoint_add")
    form = submitted_form(client.get(url).content.decode(), "webhookendpoint_form")

    answer = client.post(url, {**form, "bot": bot.pk, "url": address, "msgtypes": "[]"})

    if refusal is None:
        assert answer.status_code == 302
        assert WebhookEndpoint.objects.get(bot=bot).url == address
    else:
        assert answer.status_code == 200 and not WebhookEndpoint.objects.exists()
        assert "This URL is not allowed: " in answer.content.decode()
        assert refusal in answer.content.decode()
