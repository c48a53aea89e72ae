"""Replaying many failed deliveries at once: in batches, each delivery once, one audit entry;
and what a replay or a test event sends."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from botadmin.logging import MASK
from forwarding import replay
from forwarding.endpoints import change_endpoint
from forwarding.forms import MINUTE_FORMAT
from forwarding.models import WebhookDelivery, WebhookEndpoint
from forwarding.webhook_delivery import attempt_delivery
from messaging.models import Message


def make_failed_deliveries(endpoint, conversation, count, created_at, status="failed"):
    """`count` inbound messages of the conversation, each with a delivery to the endpoint
    in `status`, created at `created_at` (bulk: a replay's scale, in seconds)."""
    messages = Message.objects.bulk_create(
        Message(
            bot=conversation.bot,
            conversation=conversation,
            direction="in",
            msgtype="text",
            body={"msgtype": "text", "text": {"content": "hi"}},
            status=Message.Status.RECEIVED,
            source=Message.Source.AGENT,
        )
        for _ in range(count)
    )
    created = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=endpoint, message=message, status=status, attempt_count=8)
        for message in messages
    )
    ids = [delivery.pk for delivery in created]
    WebhookDelivery.objects.filter(pk__in=ids).update(created_at=created_at)
    return ids


@pytest.fixture
def endpoint(bot):
    return WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example.com/in?key=k-1")


def _period(start, end) -> dict:
    return {
        "start": timezone.localtime(start).strftime(MINUTE_FORMAT),
        "end": timezone.localtime(end).strftime(MINUTE_FORMAT),
    }


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(replay, "REPLAY_BATCH", 7)


def test_every_failed_delivery_of_the_period_is_queued_once_and_none_outside(
    endpoint, group, superuser, small_batches, client
):
    now = timezone.now().replace(second=0, microsecond=0)
    inside = make_failed_deliveries(endpoint, group, 40, now - timedelta(hours=2))
    before = make_failed_deliveries(endpoint, group, 5, now - timedelta(days=3))
    after = make_failed_deliveries(endpoint, group, 5, now + timedelta(hours=1))
    delivered = make_failed_deliveries(endpoint, group, 5, now - timedelta(hours=2), "delivered")
    other = WebhookEndpoint.objects.create(bot=endpoint.bot, url="https://b.example.com/")
    elsewhere = make_failed_deliveries(other, group, 5, now - timedelta(hours=2))
    client.force_login(superuser)

    response = client.post(
        reverse("admin:forwarding_webhookendpoint_replay_failed", args=[endpoint.pk]),
        _period(now - timedelta(days=1), now),
    )

    assert response.status_code == 302
    replayed = WebhookDelivery.objects.filter(pk__in=inside)
    assert set(replayed.values_list("status", "replay_count", "retry_step")) == {("pending", 1, 0)}
    assert all(d.next_attempt_at for d in replayed)
    untouched = WebhookDelivery.objects.filter(pk__in=before + after + elsewhere + delivered)
    assert set(untouched.values_list("replay_count", flat=True)) == {0}
    assert set(untouched.values_list("status", flat=True)) == {"failed", "delivered"}


def test_a_replay_of_many_is_one_audit_entry_with_the_count_and_the_period(
    endpoint, group, superuser, small_batches, client
):
    now = timezone.now().replace(second=0, microsecond=0)
    make_failed_deliveries(endpoint, group, 30, now - timedelta(hours=1))
    client.force_login(superuser)
    period = _period(now - timedelta(days=1), now)

    client.post(
        reverse("admin:forwarding_webhookendpoint_replay_failed", args=[endpoint.pk]), period
    )

    (action,) = OperatorAction.objects.all()
    assert action.action == "delivery.replay_many" and action.actor == superuser
    assert (action.bot, action.target_id) == (endpoint.bot, str(endpoint.pk))
    assert action.details["count"] == 30
    assert action.details["start"].startswith(period["start"])
    assert action.details["end"].startswith(period["end"])
    assert action.summary == f"Replayed 30 deliveries to https://hooks.example.com/in?key={MASK}"


def test_the_console_answers_with_the_count_and_the_audit_log_shows_count_and_period(
    endpoint, group, superuser, client
):
    now = timezone.now().replace(second=0, microsecond=0)
    make_failed_deliveries(endpoint, group, 2_500, now - timedelta(hours=1))  # 3 batches
    client.force_login(superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    start, end = now - timedelta(days=1), now

    response = client.post(
        reverse("console:webhook_replay_failed", args=[endpoint.bot.pk, endpoint.pk]),
        _period(start, end),
        follow=True,
    )

    assert "2500 failed deliveries queued again." in response.content.decode()
    log = client.get(reverse("console:operator_actions")).content.decode()
    assert "Replayed webhook deliveries" in log
    period = _period(start, end)
    assert (
        f"2500 deliveries, of messages received from {period['start'].replace('T', ' ')} "
        f"until {period['end'].replace('T', ' ')}"
    ) in log


def test_replaying_a_selection_is_one_audit_entry_per_endpoint_and_skips_those_in_flight(
    endpoint, group, superuser, small_batches
):
    now = timezone.now()
    other = WebhookEndpoint.objects.create(bot=endpoint.bot, url="https://b.example.com/")
    mine = make_failed_deliveries(endpoint, group, 20, now)
    theirs = make_failed_deliveries(other, group, 1, now)
    in_flight = make_failed_deliveries(endpoint, group, 1, now, "delivering")
    WebhookDelivery.objects.filter(pk__in=in_flight).update(
        next_attempt_at=now + timedelta(minutes=1)
    )

    count = replay.replay_deliveries(superuser, WebhookDelivery.objects.all())

    assert count == 21
    assert WebhookDelivery.objects.get(pk=in_flight[0]).replay_count == 0
    assert set(
        WebhookDelivery.objects.filter(pk__in=mine + theirs).values_list("status", "replay_count")
    ) == {("pending", 1)}
    one, many = OperatorAction.objects.order_by("target_type")  # delivery, endpoint
    assert (many.action, many.target_id, many.details["count"]) == (
        "delivery.replay_many",
        str(endpoint.pk),
        20,
    )
    assert (one.action, one.target_id) == ("delivery.replay", str(theirs[0]))


def test_a_replay_after_the_secret_is_withheld_sends_a_dash_under_the_same_webhook_id(
    hooked_bot, receiver, record, superuser, client
):
    """The body is made at each attempt: a delivery of a message stored while the endpoint
    was sent the API secret, replayed after it no longer is, goes without it."""
    delivery = record(hooked_bot)
    assert attempt_delivery(delivery.pk) == "success"
    change_endpoint(superuser, delivery.endpoint, sends_api_secret=False)
    client.force_login(superuser)

    client.post(reverse("console:webhook_delivery_replay", args=[hooked_bot.pk, delivery.pk]))
    assert attempt_delivery(delivery.pk) == "success"  # what the woken worker does

    first, replayed = receiver.requests
    assert json.loads(first.body)["secret"] == hooked_bot.secret
    assert json.loads(replayed.body)["secret"] == "-"
    assert replayed.headers["webhook-id"] == first.headers["webhook-id"]
    assert replayed.verifies_with(delivery.endpoint.signing_secret)
    change = OperatorAction.objects.get(action="endpoint.update")
    assert change.details == {"sends_api_secret": False}


def test_a_test_event_to_an_endpoint_not_sent_the_secret_says_a_dash(hooked_bot, receiver):
    endpoint = WebhookEndpoint.objects.get(bot=hooked_bot)
    endpoint.sends_api_secret = False
    endpoint.save()

    assert replay.send_test_event(endpoint).outcome == "success"

    (request,) = receiver.requests
    assert json.loads(request.body)["secret"] == "-"
    assert request.verifies_with(endpoint.signing_secret)
