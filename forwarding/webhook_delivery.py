"""Forwarding: claim due deliveries, POST them, record the attempts and schedule the retries.

It follows the outbox protocol (messaging/outbox.py), as delivery does: the
WebhookDelivery row is the outbox entry; a worker claims due deliveries in
batches (`claim_due_deliveries`: locked, marked `delivering` with the lease in
`next_attempt_at`, one open attempt row each), POSTs them one after the other
(renewing the leases of the rest when slow answers would outlast them), and
records the answers; a delivery whose lease ran out, or whose attempt's process is gone
from this host (the sweeper ends such a lease at once), is taken back by the
next claim, its open attempt completed as interrupted. What wakes a worker, and what a
woken worker forwards (a drain, the sweeper): forwarding/drains.py. The request itself
(body, signature, POST): forwarding/webhook_requests.py; the endpoints' health as the
answers are recorded: forwarding/endpoint_health.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.db.models import F, Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import metrics
from botadmin.partial_indexes import index_condition
from botadmin.reasons import Reason
from messaging.models import MessageMedia
from messaging.outbox import (
    CLAIM_BATCH,
    FORWARDING_SCHEDULE,
    IN_FLIGHT,
    INTERRUPTED,
    RECORD_EVERY_SECONDS,
    RETRY_AFTER_AT_MOST,
    holder,
    lock_due,
    renew_leases,
    retry_delay,
    update_each,
)

from .endpoint_health import keep_endpoint_health
from .models import DUE, WebhookAttempt, WebhookDelivery, webhook_id_for
from .webhook_requests import (
    RESPONSE_TIMEOUT,
    PostResult,
    forward_payload,
    post_at_most,
    post_signed,
)

# A worker owns a claimed delivery this long; then the sweeper may hand it to another.
CLAIM_LEASE = timedelta(seconds=RESPONSE_TIMEOUT * 4)
# Retries due this soon ride on the broker's countdown (one wake-up per endpoint and
# recorded batch, drains.wake_endpoint); later ones wait for the sweeper.
WAKE_BY_COUNTDOWN_WITHIN = timedelta(minutes=1)

Status = WebhookDelivery.Status
# webhook_delivery_due_idx's condition (forwarding/models.py).
DUE_STATUSES = index_condition(DUE)


def due(now, grace: timedelta = timedelta(0)):
    """Deliveries due (pending past `grace`, or delivering past their lease), the longest
    due first."""
    return WebhookDelivery.objects.filter(
        DUE_STATUSES,
        Q(status=Status.PENDING, next_attempt_at__lte=now - grace)
        | Q(status=Status.DELIVERING, next_attempt_at__lte=now),  # its lease ran out
        endpoint__is_active=True,
        endpoint__disabled_at__isnull=True,
    ).order_by("next_attempt_at")


@dataclass
class Attempt:
    """A claimed delivery, its open attempt row, and (once posted) the answer."""

    delivery: WebhookDelivery
    row: WebhookAttempt
    result: PostResult | None = None


def claim_due_deliveries(
    limit: int = CLAIM_BATCH, ids: list[int] | None = None, endpoint_id: int | None = None
) -> list[Attempt]:
    """Claim up to `limit` due deliveries (of `ids`, or of one endpoint, if given), or ones
    whose worker vanished: each now `delivering` under a lease, with its attempt row open."""
    now = timezone.now()
    claimable = (
        due(now)
        .select_related("message__bot", "endpoint")
        # The archive's fields of every message in the batch, in one query.
        .prefetch_related(
            Prefetch(
                "message__media",
                queryset=MessageMedia.objects.select_related("stored_file").order_by("pk"),
            )
        )
    )
    if ids is not None:
        claimable = claimable.filter(pk__in=ids)
    if endpoint_id is not None:
        claimable = claimable.filter(endpoint_id=endpoint_id)
    with transaction.atomic():
        deliveries = lock_due(claimable, limit)
        if not deliveries:
            return []
        taken_back = [d.pk for d in deliveries if d.status == Status.DELIVERING]
        if taken_back:
            WebhookAttempt.objects.filter(delivery_id__in=taken_back, outcome=IN_FLIGHT).update(
                outcome=WebhookAttempt.Outcome.FAILURE, response_text=INTERRUPTED
            )
        lease, worker = now + CLAIM_LEASE, holder()
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
            status=Status.DELIVERING,
            next_attempt_at=lease,
            attempt_count=F("attempt_count") + 1,
            updated_at=now,
        )
        for delivery in deliveries:
            delivery.status, delivery.next_attempt_at = Status.DELIVERING, lease
            delivery.attempt_count += 1
        rows = WebhookAttempt.objects.bulk_create(
            WebhookAttempt(
                delivery=delivery,
                number=delivery.attempt_count,
                url=delivery.endpoint.url,
                started_at=now,
                worker=worker,
            )
            for delivery in deliveries
        )
    return [Attempt(delivery, row) for delivery, row in zip(deliveries, rows, strict=True)]


def attempt_delivery(delivery_id: int) -> str | None:
    """Make one attempt if the delivery is due; returns the attempt's outcome, or None."""
    claimed = claim_due_deliveries(ids=[delivery_id])
    return forward_claimed(claimed)[0] if claimed else None


def forward_claimed(attempts: list[Attempt]) -> list[str]:
    """POST each claimed delivery in turn, recording the answers every RECORD_EVERY_SECONDS.

    A batch of slow answers outlasts the claim's lease: before a POST that could
    end past it, the answers so far are recorded and the rest of the batch's
    leases renewed (`keep_leases`); one another claim took back meanwhile (this
    worker stalled past its lease) is that claim's, and is left alone."""
    outcomes: list[str] = []
    unrecorded: list[Attempt] = []
    last_record = time.monotonic()
    held = {attempt.delivery.pk for attempt in attempts}
    for index, attempt in enumerate(attempts):
        delivery = attempt.delivery
        if delivery.next_attempt_at - timezone.now() < post_at_most():
            outcomes += record_outcomes(unrecorded)
            unrecorded, last_record = [], time.monotonic()
            held = keep_leases(attempts[index:])
        if delivery.pk not in held:
            continue
        message = delivery.message
        attempt.result = post_signed(
            delivery.endpoint.url,
            delivery.endpoint.signing_secrets(),
            webhook_id_for(message.msgid),
            forward_payload(message, delivery.endpoint),
            api_secret=message.bot.secret,
        )
        unrecorded.append(attempt)
        if time.monotonic() - last_record >= RECORD_EVERY_SECONDS:
            outcomes += record_outcomes(unrecorded)
            unrecorded, last_record = [], time.monotonic()
    return outcomes + record_outcomes(unrecorded)


def keep_leases(attempts: list[Attempt]) -> set[int]:
    """Renew the leases of these claimed deliveries that are still this claim's (still
    `delivering`, their attempt count unchanged: no other claim took them back); returns
    their ids."""
    now = timezone.now()
    lease = now + CLAIM_LEASE
    claimed = {attempt.delivery.pk: attempt.delivery.attempt_count for attempt in attempts}
    held = renew_leases(
        WebhookDelivery.objects.all(), Status.DELIVERING, claimed, "attempt_count", lease, now
    )
    for attempt in attempts:
        if attempt.delivery.pk in held:
            attempt.delivery.next_attempt_at = lease
    return held


# What recording an attempt changes on the attempt row and on its delivery.
ATTEMPT_RECORDED = ["started_at", "outcome", "http_status", "duration_ms", "response_text"]
DELIVERY_RECORDED = [
    "status",
    "delivered_at",
    "next_attempt_at",
    "retry_step",
    "last_http_status",
    "last_error",
    "updated_at",
]


def record_outcomes(attempts: list[Attempt]) -> list[str]:
    """Write the attempts and move their deliveries on, at once; then keep the endpoints'
    health, in a short transaction of its own.

    Workers delivering to the same endpoints update the same endpoint rows: those locks
    are taken after the deliveries are written (a worker losing a race on an endpoint
    row never loses its answers) and in the endpoints' id order (two workers never hold
    one each while waiting for the other's: PostgreSQL's "deadlock detected")."""
    from .drains import wake_endpoint  # the drains import this module

    if not attempts:
        return []
    now = timezone.now()
    for attempt in attempts:
        _apply_outcome(attempt, now)
    with transaction.atomic():
        update_each(
            WebhookAttempt,
            ATTEMPT_RECORDED,
            [(*(getattr(a.row, name) for name in ATTEMPT_RECORDED), a.row.pk) for a in attempts],
        )
        # Only a delivery still this claim's moves on: one taken back meanwhile is another's.
        update_each(
            WebhookDelivery,
            DELIVERY_RECORDED,
            [
                (
                    *(getattr(a.delivery, name) for name in DELIVERY_RECORDED),
                    a.delivery.pk,
                    Status.DELIVERING,
                    a.delivery.attempt_count,
                )
                for a in attempts
            ],
            where="status = %s AND attempt_count = %s",
        )
        # By endpoint, when the last of its retries soon due is: one wake-up then drains
        # them all (the schedule's jitter spreads a batch's retries over a second or so).
        retries: dict[int, datetime] = {}
        for attempt in attempts:
            delivery = attempt.delivery
            metrics.webhook_delivery(delivery.status)
            retry_at = delivery.next_attempt_at
            if delivery.status == Status.PENDING and retry_at - now <= WAKE_BY_COUNTDOWN_WITHIN:
                latest = retries.get(delivery.endpoint_id, retry_at)
                retries[delivery.endpoint_id] = max(latest, retry_at)
        for endpoint_id, at in retries.items():
            transaction.on_commit(partial(wake_endpoint, endpoint_id, at))
    with transaction.atomic():
        keep_endpoint_health(attempts, now)
    return [a.result.outcome for a in attempts]


def _apply_outcome(attempt: Attempt, now: datetime) -> None:
    result, row, delivery = attempt.result, attempt.row, attempt.delivery
    row.started_at = result.started_at or row.started_at
    row.outcome = result.outcome
    row.http_status = result.http_status
    row.duration_ms = result.duration_ms
    row.response_text = result.text
    delivery.last_http_status = result.http_status
    delivery.updated_at = now
    if result.outcome == WebhookAttempt.Outcome.SUCCESS:
        delivery.status = Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.last_error = ""
        return
    delivery.last_error = result.text
    if not isinstance(result.text, Reason):  # the endpoint's answer: say what it was
        delivery.last_error = Reason(
            gettext_noop("the endpoint answered HTTP %(status)s: %(answer)s"),
            status=result.http_status,
            answer=result.text,
        )
    # A later time a busy receiver asks for (Retry-After) is kept, up to an hour.
    asked = min(result.retry_after or 0.0, RETRY_AFTER_AT_MOST)
    delay = retry_delay(FORWARDING_SCHEDULE, delivery.retry_step + 1, asked)
    if result.outcome == WebhookAttempt.Outcome.REFUSED or delay is None:
        delivery.status = Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.status = Status.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.retry_step += 1
