"""Webhook deliveries past their retention are deleted every night: delivered ones after
BOTADMIN_WEBHOOK_DELIVERED_RETENTION_DAYS, failed ones after
BOTADMIN_WEBHOOK_FAILED_RETENTION_DAYS, never one still to go or leased."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from forwarding.retention import purge_old_deliveries
from messaging.models import Message

Status = WebhookDelivery.Status
TEXT = {"msgtype": "text", "text": {"content": "hi"}}


@pytest.fixture
def deliver(make_bot, make_conversation):
    """A delivery of a fresh inbound message, `age` days old, last changed `changed` days
    ago (its delivery or failure), with one attempt."""
    bot = make_bot()
    conversation = make_conversation(bot, "wrHook")
    endpoints = [
        WebhookEndpoint.objects.create(bot=bot, url=f"http://127.0.0.1:9/{n}") for n in range(2)
    ]

    def deliver(status, age, changed=None, endpoint=0):
        message = Message.objects.create(
            bot=bot,
            conversation=conversation,
            direction=Message.Direction.IN,
            msgtype="text",
            body=TEXT,
            status=Message.Status.RECEIVED,
            source=Message.Source.AGENT,
        )
        delivery = WebhookDelivery.objects.create(
            message=message, endpoint=endpoints[endpoint], status=status
        )
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=1,
            url=endpoints[endpoint].url,
            started_at=timezone.now(),
            outcome=WebhookAttempt.Outcome.SUCCESS,
        )
        now = timezone.now()
        changed_at = now - timedelta(days=age if changed is None else changed)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            created_at=now - timedelta(days=age),
            updated_at=changed_at,
            delivered_at=changed_at if status == Status.DELIVERED else None,
        )
        return delivery

    return deliver


def test_a_run_deletes_exactly_the_deliveries_past_their_limit_with_their_attempts(
    settings, deliver
):
    settings.BOTADMIN_WEBHOOK_DELIVERED_RETENTION_DAYS = 30
    settings.BOTADMIN_WEBHOOK_FAILED_RETENTION_DAYS = 90
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 2
    gone = [
        *(deliver(Status.DELIVERED, 31 + n, endpoint=n % 2) for n in range(5)),
        deliver(Status.FAILED, 120, changed=91),
    ]
    kept = [
        deliver(Status.DELIVERED, 29),
        deliver(Status.DELIVERED, 60, changed=2),  # replayed and delivered again lately
        deliver(Status.FAILED, 60),  # failed, but not 90 days ago
        deliver(Status.FAILED, 120, changed=30),  # replayed, failed again
        deliver(Status.PENDING, 400),  # still to go: never deleted
        deliver(Status.DELIVERING, 400),  # leased by a worker: never deleted
    ]

    purged = purge_old_deliveries()

    assert (purged.delivered, purged.failed) == (5, 1)
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {d.pk for d in kept}
    assert set(WebhookAttempt.objects.values_list("delivery", flat=True)) == {d.pk for d in kept}
    assert Message.objects.filter(pk__in=[d.message_id for d in gone]).count() == len(gone)


def test_zero_keeps_them_for_ever(settings, deliver):
    settings.BOTADMIN_WEBHOOK_DELIVERED_RETENTION_DAYS = 0
    settings.BOTADMIN_WEBHOOK_FAILED_RETENTION_DAYS = 0
    deliver(Status.DELIVERED, 3000)
    deliver(Status.FAILED, 3000)

    purged = purge_old_deliveries()

    assert (purged.delivered, purged.failed) == (0, 0)
    assert WebhookDelivery.objects.count() == 2


def test_each_batch_is_a_transaction_of_its_own_found_by_the_endpoints_index(settings, deliver):
    settings.BOTADMIN_WEBHOOK_DELIVERED_RETENTION_DAYS = 30
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 3
    for n in range(7):
        deliver(Status.DELIVERED, 40 + n)

    with CaptureQueriesContext(connection) as queries:
        assert purge_old_deliveries().delivered == 7

    deletes = [
        q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "messaging_webhookdelivery"')
    ]
    assert len(deletes) == 3
    finds = [q["sql"] for q in queries if "ORDER BY" in q["sql"] and "webhookdelivery" in q["sql"]]
    assert all('"endpoint_id" =' in sql and '"created_at" <' in sql for sql in finds), finds


def test_the_purge_runs_every_night_after_the_messages(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["purge-old-webhook-deliveries"]
    assert entry["task"] == "forwarding.purge_old_deliveries"
    assert entry["schedule"].hour == {3}
