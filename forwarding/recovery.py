"""Forward to an endpoint the messages it missed (Svix's "Recover failed messages"): those
stored while it was switched off, which it has no delivery of, and those whose delivery to
it failed (an endpoint disabled after days of failures).

Through the outbox like every other delivery: a delivery row per (message, endpoint),
which the unique constraint keeps to one, so running it twice, or for a message the
endpoint already has, never sends anything twice; a failed delivery is queued again under
its webhook-id. Bounded: messages of the last RECOVER_DAYS stored before the run began.

A run is its audit entry: the operator's request records it and queues the first
RECOVER_BATCH messages in the same transaction; a task (`forwarding.recover_missed`)
queues the rest a batch after the other. Each batch holds the endpoint's row locked, looks
again for what is still missed, queues it and adds to the entry's count what it queued
itself: two runs at once take turns and each counts only its own; a task run twice, or
again after its worker was killed (acks_late), finds only what is still missed. The
outbox rows are the truth, the entry's count and `done` the progress shown.

A task lost on its way (the broker down when it was published, or losing it) would leave
its run "not done" for ever: each batch records when it made progress (`progress_at`), and
the forwarding sweep (`resume_stalled_runs`) publishes the task again for a run that made
none for RECOVER_STALLED.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.models import OperatorAction
from audit.services import record_action
from botadmin.logging import mask_secrets
from messaging.models import Message

from .locks import lock_endpoint
from .models import WebhookDelivery, WebhookEndpoint

RECOVER_DAYS = 7
# Messages queued per transaction: the endpoint's row is locked for as long (a worker
# recording its health waits), and the operator's request queues the first of them.
RECOVER_BATCH = 1000
RECOVER_BATCHES_PER_TASK = 10  # then a fresh task, behind what else the queue holds
# A run that queued nothing for this long lost its task (or it waits behind a long queue:
# published again, the one that runs second finds nothing more to queue).
RECOVER_STALLED = timedelta(minutes=5)
ACTION = "endpoint.recover_missed"

Status = WebhookDelivery.Status


@dataclass
class Missed:
    since: datetime
    message_ids: list[int]  # no delivery to the endpoint yet, oldest first
    failed_ids: list[int]  # deliveries to it that failed, oldest message first

    @property
    def count(self) -> int:
        return len(self.message_ids) + len(self.failed_ids)


@dataclass
class Progress:
    """A run as its audit entry records it: `queued` of the `found` it counted at its
    start (another run, or a fan-out, may take some of them), until `done`."""

    started_at: datetime
    since: datetime
    queued: int
    found: int
    done: bool

    @classmethod
    def of(cls, action: OperatorAction) -> Progress:
        details = action.details
        return cls(
            started_at=action.created_at,
            since=parse_datetime(details["start"]),
            queued=details.get("count", 0),
            found=details.get("found", details.get("count", 0)),
            done=details.get("done", True),  # a run before batches: done in its request
        )


def earliest(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=RECOVER_DAYS)


def default_since(endpoint: WebhookEndpoint, now: datetime | None = None) -> datetime:
    """When forwarding to the endpoint last stopped (switched off, or the failures that
    disabled it began), within the last RECOVER_DAYS; else RECOVER_DAYS ago."""
    return max(endpoint.stopped_at or earliest(now), earliest(now))


def may_recover(endpoint: WebhookEndpoint) -> bool:
    """Only to an endpoint that forwards again: an off one is queued nothing."""
    return endpoint.is_active and endpoint.disabled_at is None


def _missed_messages(endpoint: WebhookEndpoint, since: datetime, until: datetime) -> QuerySet:
    """The inbound messages of the endpoint's bot stored in [since, until) that it accepts
    and did not get, annotated `has` (a failed delivery) and oldest first. A delivery that
    failed at `until` or later is left out: one queued again by this run and failing again
    at once (a refused URL) is not taken a second time."""
    messages = Message.objects.filter(
        bot_id=endpoint.bot_id,
        direction=Message.Direction.IN,
        forward_pending=False,  # a pending fan-out gives it its delivery anyway
        created_at__gte=since,
        created_at__lt=until,
    )
    if endpoint.msgtypes:
        messages = messages.filter(msgtype__in=endpoint.msgtypes)
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint, message=OuterRef("pk"))
    failed = delivery.filter(status=Status.FAILED, updated_at__lt=until)
    return (
        messages.annotate(has=Exists(delivery))
        .filter(Exists(failed) | ~Exists(delivery))
        .order_by("created_at", "pk")
    )


def count_missed(endpoint: WebhookEndpoint, since: datetime, now: datetime | None = None) -> int:
    """How many messages the endpoint missed since `since` (RECOVER_DAYS at most)."""
    now = now or timezone.now()
    return _missed_messages(endpoint, max(since, earliest(now)), now).count()


def missed(
    endpoint: WebhookEndpoint,
    since: datetime,
    now: datetime | None = None,
    *,
    until: datetime | None = None,
    at_most: int | None = None,
) -> Missed:
    """The messages stored since `since` (RECOVER_DAYS at most) and before `until` (now)
    that the endpoint accepts and did not get: at most `at_most` (RECOVER_BATCH), the
    oldest first."""
    now = now or timezone.now()
    since = max(since, earliest(now))
    rows = list(
        _missed_messages(endpoint, since, until or now).values_list("pk", "has")[
            : at_most or RECOVER_BATCH
        ]
    )
    failed_messages = [pk for pk, has in rows if has]
    failed_of = dict(
        WebhookDelivery.objects.filter(
            endpoint=endpoint, message_id__in=failed_messages, status=Status.FAILED
        ).values_list("message_id", "pk")
    )
    return Missed(
        since=since,
        message_ids=[pk for pk, has in rows if not has],
        failed_ids=[failed_of[pk] for pk in failed_messages if pk in failed_of],
    )


def recover_missed(actor, endpoint: WebhookEndpoint, since: datetime) -> Progress | None:
    """Start forwarding to the endpoint what it missed since `since`: the run's audit entry
    (the period, how many it found) and its first batch in one transaction, the rest in a
    task. None when it missed nothing, or it is still off or disabled: nothing audited."""
    from .tasks import recover_missed_rest

    if not may_recover(endpoint):
        return None
    now = timezone.now()
    since = max(since, earliest(now))
    with transaction.atomic():
        endpoint = _locked(endpoint.pk)
        if endpoint is None or not may_recover(endpoint):
            return None
        found = count_missed(endpoint, since, now)  # after another run's turn: what it left
        if not found:
            return None
        action = record_action(
            actor,
            ACTION,
            bot=endpoint.bot,
            target=endpoint,
            summary=f"Forwarding {found} missed messages to {endpoint.url}",
            details={
                "count": 0,
                "found": found,
                "start": since.isoformat(),
                "end": now.isoformat(),
                "done": False,
                "progress_at": now.isoformat(),
            },
        )
        _next_batch(endpoint, action)
        if not action.details["done"]:
            recover_missed_rest.delay_on_commit(action.pk)
    return Progress.of(action)


def recover_next_batch(action_id: int) -> bool:
    """Queue the next batch of the run `action_id`; True once it is done (or its endpoint
    gone, switched off or disabled meanwhile: it stops there). Safe to run twice."""
    target = OperatorAction.objects.filter(pk=action_id, action=ACTION).values_list(
        "target_id", flat=True
    )
    endpoint_id = target.first()
    if endpoint_id is None:
        return True
    with transaction.atomic():
        endpoint = _locked(int(endpoint_id))  # bot, endpoint, then the run, as recover_missed
        action = OperatorAction.objects.select_for_update().get(pk=action_id)
        if action.details.get("done", True):
            return True
        if endpoint is None or not may_recover(endpoint):
            _finish(action, endpoint)
            return True
        _next_batch(endpoint, action)
        return action.details["done"]


def resume_stalled_runs(now: datetime | None = None) -> list[int]:
    """Publish again the task of each run (of the last RECOVER_DAYS) that is not done and
    made no progress for RECOVER_STALLED: its task was lost. Returns their ids."""
    from .tasks import recover_missed_rest

    now = now or timezone.now()
    runs = OperatorAction.objects.filter(
        action=ACTION, created_at__gte=earliest(now), details__done=False
    ).values_list("pk", flat=True)
    resumed = [pk for pk in runs if _mark_resumed(pk, now)]
    for pk in resumed:  # after the commit of each mark: a worker reads it
        recover_missed_rest.delay(pk)
    return resumed


def _mark_resumed(action_id: int, now: datetime) -> bool:
    """Record the run's progress time as now if it stalled (so the next sweeps wait
    RECOVER_STALLED again for the task published now); whether it stalled."""
    with transaction.atomic():
        # Only the run's row: the batches lock the bot and the endpoint before it.
        action = OperatorAction.objects.select_for_update().filter(pk=action_id).first()
        if action is None or action.details.get("done", True):
            return False
        progress_at = action.details.get("progress_at")  # none: a run from before
        last = parse_datetime(progress_at) if progress_at else action.created_at
        if now - last < RECOVER_STALLED:
            return False
        action.details["progress_at"] = now.isoformat()
        action.save(update_fields=["details"])
        return True


def latest_run(endpoint: WebhookEndpoint) -> Progress | None:
    """The endpoint's last run, for its page."""
    action = (
        OperatorAction.objects.filter(
            action=ACTION,
            target_type=WebhookEndpoint._meta.label_lower,
            target_id=str(endpoint.pk),
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    return Progress.of(action) if action else None


def _locked(endpoint_id: int) -> WebhookEndpoint | None:
    # Recoveries of one endpoint take turns: each batch looks for what is missed, queues
    # it and counts it under this lock, so no two count the same message. The bot's row
    # is locked first (forwarding/locks.py): the run's audit entry refers to the bot.
    try:
        return lock_endpoint(endpoint_id)
    except WebhookEndpoint.DoesNotExist:
        return None


def _next_batch(endpoint: WebhookEndpoint, action: OperatorAction) -> None:
    """Queue what the endpoint still misses of the run's period, RECOVER_BATCH at most, and
    add to the run's count how many this batch queued."""
    from .drains import wake_endpoints

    details = action.details
    now = timezone.now()
    found = missed(
        endpoint,
        parse_datetime(details["start"]),
        now,
        until=parse_datetime(details["end"]),
        at_most=RECOVER_BATCH,
    )
    queued = _queue(endpoint, found, now)
    details["count"] = details.get("count", 0) + queued
    details["progress_at"] = now.isoformat()
    if found.count < RECOVER_BATCH:
        _finish(action, endpoint)
    else:
        action.save(update_fields=["details"])
    if queued:
        wake_endpoints([endpoint.pk])


def _finish(action: OperatorAction, endpoint: WebhookEndpoint | None) -> None:
    action.details["done"] = True
    url = endpoint.url if endpoint else action.target_label
    count = action.details.get("count", 0)
    action.summary = mask_secrets(f"Forwarded {count} missed messages to {url}")
    action.save(update_fields=["details", "summary"])


def _queue(endpoint: WebhookEndpoint, found: Missed, now: datetime) -> int:
    """Create the deliveries of `found` and queue its failed ones again; how many."""
    from .replay import queue_again

    # Due in the order the messages were stored, a microsecond apart: the claim takes
    # the longest due first, so they go out oldest first, as forwarding sends them.
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                message_id=pk, endpoint=endpoint, next_attempt_at=now + timedelta(microseconds=n)
            )
            for n, pk in enumerate(found.message_ids)
        ],
        ignore_conflicts=True,  # a fan-out made it meanwhile
    )
    queued = WebhookDelivery.objects.filter(
        endpoint=endpoint, message_id__in=found.message_ids, created_at__gte=now
    ).count()
    return queued + queue_again(
        WebhookDelivery.objects.filter(pk__in=found.failed_ids, status=Status.FAILED), now
    )
