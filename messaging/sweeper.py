"""The delivery sweeper: nothing stays stuck because a wake-up was lost.

Run periodically (CELERY_BEAT_SCHEDULE "delivery-sweeper"). It

* takes back messages whose `sending` lease ran out (the worker died or
  hung mid-send), or at once those whose attempt's process is gone from this
  host (outbox.end_abandoned_leases: a killed pool child), and completes
  their open attempt as interrupted: an
  idempotent connector's message is queued again (the other side drops the
  repeat), any other becomes `uncertain`, since it may have been posted;
* fails messages that waited for a paused or inactive bot longer than
  DELIVERY_MAX_QUEUE_AGE_HOURS, saying so, instead of sending them days late;
* returns the due messages that are overdue (their wake-up went to a broker
  that was down, was lost with a worker, or the uncertain message they waited
  behind ran out of its hold) so they are enqueued again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin.reasons import Reason, ngettext_noop
from connectors.base import Outcome
from connectors.registry import connector_class

from .delivery_claim import PENDING_STATUSES, Clock, due_messages
from .delivery_outcomes import gave_up, stopped_changes, uncertain_changes
from .models import DeliveryAttempt, Message
from .outbox import IN_FLIGHT, INTERRUPTED, end_abandoned_leases

BATCH = 500


def sweep(clock: Clock = timezone.now) -> list[int]:
    """Recover lost sends and expire stale queues; return the ids that need a worker now."""
    now = clock()
    requeued = recover_lost_sends(now)
    expire_stale_queues(now)
    overdue = now - timedelta(seconds=settings.DELIVERY_SWEEP_INTERVAL)
    return requeued + list(
        due_messages(now)
        .filter(
            Q(next_attempt_at__lte=overdue)
            | Q(next_attempt_at__isnull=True, created_at__lte=overdue)
        )
        .exclude(pk__in=requeued)
        .values_list("pk", flat=True)[:BATCH]
    )


def recover_lost_sends(now: datetime) -> list[int]:
    """Take back messages whose lease ran out, or whose worker process is gone (killed
    mid-send); return the ones queued again."""
    sending = Message.objects.filter(PENDING_STATUSES, status=Message.Status.SENDING)
    end_abandoned_leases(sending, DeliveryAttempt.objects.all(), "message", now)
    lost = Message.objects.filter(
        PENDING_STATUSES, status=Message.Status.SENDING, next_attempt_at__lte=now
    ).select_related("bot")[:BATCH]
    requeued = []
    for message in lost:
        idempotent = connector_class(message.bot.connector).idempotent
        if not idempotent:
            outcome = Outcome.UNCERTAIN
            changes = uncertain_changes(INTERRUPTED, now)
        elif message.stop_requested:
            # An operator stopped it meanwhile: held (tried again on resume), or, as it
            # may have arrived, uncertain rather than cancelled.
            changes = stopped_changes(message.stop_requested, INTERRUPTED, now, unsure=True)
            held = changes["status"] == Message.Status.SCHEDULED
            outcome = Outcome.RETRY if held else Outcome.UNCERTAIN
        elif message.attempt_count >= settings.DELIVERY_MAX_ATTEMPTS:
            outcome = Outcome.FAILED
            changes = {
                "status": Message.Status.FAILED,
                "next_attempt_at": None,
                "last_error": gave_up(message.attempt_count, INTERRUPTED),
            }
        else:
            outcome = Outcome.RETRY
            changes = {"status": Message.Status.QUEUED, "next_attempt_at": now}
        with transaction.atomic():
            taken = Message.objects.filter(
                pk=message.pk,
                status=Message.Status.SENDING,
                # Its lease still over: not renewed by its live worker, nor a new claim
                # (after an operator's retry, whose attempt count starts again) since read.
                next_attempt_at__lte=now,
                attempt_count=message.attempt_count,
                stop_requested=message.stop_requested,  # else the next sweep decides
            ).update(
                **{"last_error": INTERRUPTED, **changes, "stop_requested": "", "updated_at": now}
            )
            if not taken:
                continue
            completed = DeliveryAttempt.objects.filter(message=message, outcome=IN_FLIGHT).update(
                outcome=outcome, response_text=INTERRUPTED
            )
            if not completed:  # claimed before attempts were opened at the claim
                DeliveryAttempt.objects.create(
                    message=message, started_at=now, outcome=outcome, response_text=INTERRUPTED
                )
        if changes["status"] == Message.Status.QUEUED:
            requeued.append(message.pk)
    return requeued


# A message queued for a paused or inactive bot longer than DELIVERY_MAX_QUEUE_AGE_HOURS.
EXPIRED = ngettext_noop(
    "expired: queued for more than %(hours)s hour while its bot was paused or inactive "
    "(DELIVERY_MAX_QUEUE_AGE_HOURS); not sent",
    "expired: queued for more than %(hours)s hours while its bot was paused or inactive "
    "(DELIVERY_MAX_QUEUE_AGE_HOURS); not sent",
    "count",
)
# What rows stored before EXPIRED had a singular say ("more than 1 hours"): kept so they
# translate. Their English stays as it was stored.
EARLIER_EXPIRED = gettext_noop(
    "expired: queued for more than %(hours)s hours while its bot was paused or "
    "inactive (DELIVERY_MAX_QUEUE_AGE_HOURS); not sent"
)


def expire_stale_queues(now: datetime) -> int:
    """Fail the messages queued for a paused or inactive bot for too long; returns how many."""
    hours = settings.DELIVERY_MAX_QUEUE_AGE_HOURS
    stale = Message.objects.alias(due_at=Coalesce("scheduled_at", "created_at")).filter(
        Q(bot__paused_at__isnull=False) | Q(bot__is_active=False),
        PENDING_STATUSES,
        status=Message.Status.QUEUED,
        due_at__lte=now - timedelta(hours=hours),
    )
    return Message.objects.filter(pk__in=list(stale.values_list("pk", flat=True)[:BATCH])).update(
        status=Message.Status.FAILED,
        next_attempt_at=None,
        # The form is picked by a whole number: 1 says "hour", 0.5 and 1.5 "hours".
        last_error=Reason(EXPIRED, hours=f"{hours:g}", count=1 if hours == 1 else 2),
        updated_at=now,
    )
