"""Waking forwarding's workers, and what a woken worker forwards (the outbox protocol's
wake-ups, messaging/outbox.py: only a shortcut to low latency, the sweeper finds the rest).

Fresh deliveries wake a worker with their ids (`wake_deliveries`), which attempts them
and goes on with whatever else is due (`forward_and_drain`); so do stored inbound messages
(`forward_messages`, which fans them out first): while one of their wake-ups waits in the
broker, a web process publishes no more (botadmin/wakeups.py, `drains`), so a burst of
callbacks costs a broker message per drain, not one per callback. Retries wake a worker per
endpoint (`wake_endpoint`): it forwards that endpoint's due deliveries a claim
(CLAIM_BATCH) at a time (`drain_endpoints`). So an endpoint that is down while
thousands of deliveries wait costs a broker message per second of recorded failures
and per sweep, not one per retry, and when it comes back one wake-up drains its backlog.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery.utils.functional import chunks
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from botadmin.cache import best_effort
from messaging.media_references import forwardable
from messaging.models import Message
from messaging.outbox import CLAIM_BATCH, end_abandoned_leases

from .endpoints import fan_out_waiting
from .models import WebhookAttempt, WebhookDelivery
from .webhook_delivery import DUE_STATUSES, Status, claim_due_deliveries, due, forward_claimed

# The sweeper leaves fresh work to its own wake-up for this long.
SWEEP_GRACE = timedelta(seconds=15)
SWEEP_BATCH = 500
# Ids per task: a fan-out is shared by several workers.
IDS_PER_TASK = 20
# Drains a sweep starts on one endpoint's backlog at most, one a claim (CLAIM_BATCH) of
# it: side by side one posts while another waits for an answer or the database. The
# Procfile's forwarder has 2 slots; more drains would queue behind them.
DRAINS_PER_ENDPOINT = 2
# A woken worker goes on with other due deliveries for this long, so throughput
# does not hang on one broker round trip per delivery.
DRAIN_SECONDS = 10


def wake_deliveries(delivery_ids) -> None:
    """Enqueue these deliveries once the current transaction commits."""
    from .tasks import forward_deliveries  # the tasks import this module

    for ids in chunks(iter(delivery_ids), IDS_PER_TASK):
        forward_deliveries.delay_on_commit(ids)


def wake_endpoints(endpoint_ids: list[int]) -> None:
    """Drain these endpoints' due deliveries once the current transaction commits: one
    task, whatever their number."""
    from .tasks import forward_endpoint_deliveries

    forward_endpoint_deliveries.delay_on_commit(list(endpoint_ids))


def wake_endpoint(endpoint_id: int, at: datetime) -> None:
    """Drain the endpoint's due deliveries at `at`, rounded up to the second (a worker's
    publish, on the broker's countdown: due retries within WAKE_BY_COUNTDOWN_WITHIN).

    The batches recorded for the endpoint whose retries fall due within the same second
    share one wake-up: the shared cache keeps the first. While the cache is down, each
    batch publishes its own: more wake-ups, never a lost retry."""
    from .tasks import forward_endpoint_deliveries

    second = math.ceil(at.timestamp())
    wait = max(second - timezone.now().timestamp(), 0.0)
    first = best_effort.attempt(
        cache.add, f"forwarding:wake:{endpoint_id}:{second}", 1, math.ceil(wait) + 2, fallback=True
    )
    if first:
        forward_endpoint_deliveries.apply_async([[endpoint_id]], countdown=wait)


def end_dead_workers_leases(now) -> int:
    """Deliveries whose attempt's process is gone (killed mid-POST): due now, not when their
    lease runs out (outbox.end_abandoned_leases).

    Only a delivery's current attempt (its number is the delivery's attempt count) speaks
    for its lease: an older one left open (by a version that did not complete it when a
    replay queued its delivery again) names a process that is gone while a live worker
    holds the delivery under a later attempt."""
    return end_abandoned_leases(
        WebhookDelivery.objects.filter(DUE_STATUSES, status=Status.DELIVERING),
        WebhookAttempt.objects.filter(number=F("delivery__attempt_count")),
        "delivery",
        now,
    )


def sweep_due_deliveries(limit: int = SWEEP_BATCH) -> int:
    """Wake workers for the endpoints with due deliveries (or ones whose worker vanished)
    that no worker drains right now, and for messages whose fan-out wake-up was lost.
    Returns how many deliveries (of the first `limit` due) and messages it found."""
    now = timezone.now()
    end_dead_workers_leases(now)
    found = Counter(due(now, SWEEP_GRACE).values_list("endpoint_id", flat=True)[:limit])
    from .tasks import forward_endpoint_deliveries, forward_messages

    drained_now = being_drained(found, now)
    for endpoint_id, count in found.items():  # the longest waiting first
        if endpoint_id not in drained_now:
            for _ in range(min(math.ceil(count / CLAIM_BATCH), DRAINS_PER_ENDPOINT)):
                forward_endpoint_deliveries.delay([endpoint_id])
    unfanned = list(
        forwardable(Message.objects.filter(forward_pending=True, created_at__lte=now - SWEEP_GRACE))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for batch in chunks(iter(unfanned), IDS_PER_TASK):
        forward_messages.delay(batch)
    return found.total() + len(unfanned)


def being_drained(endpoint_ids, now) -> set[int]:
    """Those of these endpoints whose deliveries a live claim holds: their drains go on by
    themselves (`drain_endpoints`, and a fresh task when its time is up)."""
    return set(
        WebhookDelivery.objects.filter(
            DUE_STATUSES,
            status=Status.DELIVERING,
            next_attempt_at__gt=now,
            endpoint_id__in=list(endpoint_ids),
        )
        .values_list("endpoint_id", flat=True)
        .distinct()
    )


def forward_and_drain(delivery_ids: list[int], seconds: float = DRAIN_SECONDS) -> int:
    """Attempt these deliveries, then go on for up to `seconds` with other work:
    messages waiting for their fan-out, and due deliveries. Returns attempts made.

    Going on matters: a busy worker then does not wait for one broker message
    per batch, and the callbacks of a burst publish a wake-up only while none waits
    (`forward_messages` drains). So a drain whose time is up while it still found work
    hands on to a fresh task, behind what else waits. Workers draining side by side
    claim different rows.
    """
    made = len(forward_claimed(claim_due_deliveries(ids=delivery_ids))) if delivery_ids else 0
    deadline = time.monotonic() + seconds
    more = False
    while time.monotonic() < deadline:
        waiting = fan_out_waiting(CLAIM_BATCH)
        claimed = claim_due_deliveries()
        more = bool(claimed or waiting)
        if not more:
            break
        made += len(forward_claimed(claimed))
    if more:
        from .tasks import forward_messages

        forward_messages.delay([])
    return made


@dataclass
class Drained:
    """What one `drain_endpoints` did."""

    attempts: int = 0
    # Endpoints that still had due deliveries when its time was up.
    more: list[int] = field(default_factory=list)


def drain_endpoints(endpoint_ids: list[int], seconds: float = DRAIN_SECONDS) -> Drained:
    """Forward these endpoints' due deliveries, a claim of each endpoint in turn, until
    none is due or `seconds` have passed.

    Each claim takes the endpoint's longest due (`next_attempt_at` order, as every claim);
    one that takes less than a full batch found the rest claimed or not due yet."""
    drained = Drained()
    waiting = list(dict.fromkeys(endpoint_ids))  # merged wake-ups may repeat one
    deadline = time.monotonic() + seconds
    while waiting:
        for endpoint_id in list(waiting):
            claimed = claim_due_deliveries(endpoint_id=endpoint_id)
            if len(claimed) < CLAIM_BATCH:
                waiting.remove(endpoint_id)
            drained.attempts += len(forward_claimed(claimed))
            if time.monotonic() >= deadline:
                drained.more = waiting
                return drained
    return drained
