"""The delivery sweeper: nothing stays stuck because a wake-up was lost.

Run periodically (CELERY_BEAT_SCHEDULE "delivery-sweeper"). It

* takes back messages whose `sending` lease ran out (the worker died or
  hung mid-send): an idempotent connector's message is queued again (the
  other side drops the repeat), any other becomes `uncertain`, since it may
  have been posted;
* returns the queued messages that are overdue (their wake-up went to a
  broker that was down, or was lost with a worker) so they are enqueued again.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.registry import connector_class

from .delivery import Clock
from .models import DeliveryAttempt, Message

BATCH = 500
LOST_WORKER = "no answer recorded: the worker was lost while sending"


def sweep(clock: Clock = timezone.now) -> list[int]:
    """Recover lost sends; return the ids of queued messages that need a worker now."""
    now = clock()
    requeued = recover_lost_sends(now)
    overdue = now - timedelta(seconds=settings.DELIVERY_SWEEP_INTERVAL)
    return requeued + list(
        Message.objects.filter(
            Q(next_attempt_at__lte=overdue)
            | Q(next_attempt_at__isnull=True, created_at__lte=overdue),
            status=Message.Status.QUEUED,
            direction=Message.Direction.OUT,
            bot__paused_at__isnull=True,
            bot__is_active=True,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )


def recover_lost_sends(now) -> list[int]:
    """Take back messages whose lease ran out; return the ones queued again."""
    lost = Message.objects.filter(
        status=Message.Status.SENDING, next_attempt_at__lte=now
    ).select_related("bot")[:BATCH]
    requeued = []
    for message in lost:
        idempotent = connector_class(message.bot.connector).idempotent
        if not idempotent:
            changes = {"status": Message.Status.UNCERTAIN, "next_attempt_at": None}
            outcome = DeliveryAttempt.Outcome.UNCERTAIN
        elif message.attempt_count >= settings.DELIVERY_MAX_ATTEMPTS:
            changes = {"status": Message.Status.FAILED, "next_attempt_at": None}
            outcome = DeliveryAttempt.Outcome.FAILED
        else:
            changes = {"status": Message.Status.QUEUED, "next_attempt_at": now}
            outcome = DeliveryAttempt.Outcome.RETRY
        with transaction.atomic():
            taken = Message.objects.filter(
                pk=message.pk,
                status=Message.Status.SENDING,
                attempt_count=message.attempt_count,
            ).update(**changes, last_error=LOST_WORKER, updated_at=now)
            if taken:
                DeliveryAttempt.objects.create(
                    message=message, started_at=now, outcome=outcome, response_text=LOST_WORKER
                )
                if outcome == DeliveryAttempt.Outcome.RETRY:
                    requeued.append(message.pk)
    return requeued
