"""Forwarding one delivery: sign, POST, record the attempt, schedule the retry, keep endpoint health.

The delivery row is the outbox. Workers get only its id, claim it with a
compare-and-set, and may run twice safely; the sweeper re-enqueues anything
due whose wake-up was lost (dead broker, killed worker).
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from celery.utils.functional import chunks
from django.db import transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from botadmin import http, metrics
from messaging.media_fetch import forwardable
from messaging.media_links import with_media_fields
from messaging.models import Message

from .endpoints import create_deliveries
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, webhook_id_for

logger = logging.getLogger(__name__)

# Bridge spec section 4: after the first attempt, retry after about these delays.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.1
# An endpoint whose every delivery failed for this long is disabled.
DISABLE_AFTER = timedelta(days=3)
# Any 2xx within 15 s is success.
RESPONSE_TIMEOUT = 15
KEEP_BYTES = 1024
# A worker owns a claimed delivery this long; then the sweeper may hand it to another.
CLAIM_LEASE = timedelta(seconds=RESPONSE_TIMEOUT * 4)
# Retries due this soon ride on the broker's countdown; later ones wait for the sweeper.
WAKE_BY_COUNTDOWN_WITHIN = timedelta(minutes=1)
# The sweeper leaves fresh work to its own wake-up for this long.
SWEEP_GRACE = timedelta(seconds=15)
SWEEP_BATCH = 500
# Ids per task: a sweep or a replay is shared by several workers.
IDS_PER_TASK = 20
# A worker that finished its delivery goes on with other due ones for this long,
# so throughput does not hang on one broker round trip per delivery.
DRAIN_SECONDS = 10
DRAIN_BATCH = 20

Status = WebhookDelivery.Status


# --- Waking workers -------------------------------------------------------------------


def wake_deliveries(delivery_ids, countdown: float | None = None) -> None:
    """Enqueue these deliveries once the current transaction commits (after `countdown` s)."""
    from .tasks import forward_deliveries  # the tasks import this module

    for ids in chunks(iter(delivery_ids), IDS_PER_TASK):
        forward_deliveries.apply_async_on_commit([ids], countdown=countdown)


def _due(now, grace: timedelta = timedelta(0)):
    return WebhookDelivery.objects.filter(
        Q(status=Status.PENDING, next_attempt_at__lte=now - grace)
        | Q(status=Status.DELIVERING, claimed_until__lt=now),
        endpoint__is_active=True,
        endpoint__disabled_at__isnull=True,
    ).order_by("next_attempt_at")


def sweep_due_deliveries(limit: int = SWEEP_BATCH) -> int:
    """Re-enqueue deliveries that are due (or whose worker vanished), and messages
    whose fan-out wake-up was lost. Returns how many."""
    now = timezone.now()
    ids = list(_due(now, SWEEP_GRACE).values_list("pk", flat=True)[:limit])
    from .tasks import forward_deliveries, forward_messages

    for batch in chunks(iter(ids), IDS_PER_TASK):
        forward_deliveries.delay(batch)
    unfanned = list(
        forwardable(Message.objects.filter(forward_pending=True, created_at__lte=now - SWEEP_GRACE))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    for batch in chunks(iter(unfanned), IDS_PER_TASK):
        forward_messages.delay(batch)
    return len(ids) + len(unfanned)


def forward_and_drain(delivery_ids: list[int], seconds: float = DRAIN_SECONDS) -> int:
    """Attempt these deliveries, then go on for up to `seconds` with other work:
    messages waiting for their fan-out, and due deliveries. Returns attempts made.

    Workers draining side by side take random candidates from the earliest
    due and settle who gets each by the claim, so none is attempted twice.
    Going on matters: a busy worker then does not wait for one broker message
    per batch (the filesystem broker is polled once a second).
    """
    made = sum(attempt_delivery(delivery_id) is not None for delivery_id in delivery_ids)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        waiting = list(
            forwardable(Message.objects.filter(forward_pending=True))
            .order_by("created_at")
            .values_list("pk", flat=True)[:DRAIN_BATCH]
        )
        create_deliveries(waiting)  # clears their mark, even for bots without endpoints
        candidates = list(_due(timezone.now()).values_list("pk", flat=True)[:DRAIN_BATCH])
        random.shuffle(candidates)
        progressed = bool(waiting)
        for candidate in candidates:
            if attempt_delivery(candidate) is not None:
                made += 1
                progressed = True
            if time.monotonic() >= deadline:
                break
        if not progressed:
            break
    return made


# --- The request ------------------------------------------------------------------------


def forward_payload(message) -> dict:
    """The seed-format body as the agent sent it, with the bot's secret and msgid/timestamp filled.

    The secret is not stored with the message (the log is visible to operators
    who may not see secrets); it is added here, as the seed document shows. An
    archived copy of its media adds `url`, `content_type`, `size`, `sha256` to
    the msgtype object (bridge spec section 7).
    """
    body = with_media_fields(message, dict(message.body))
    body.setdefault("msgid", message.upstream_msgid or message.msgid)
    body.setdefault("timestamp", int((message.sent_at or message.created_at).timestamp()))
    return {"secret": message.bot.secret, **body}


def encode_body(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def signature_headers(signing_secret: str, webhook_id: str, body: str) -> dict[str, str]:
    """Standard Webhooks headers for one attempt (the timestamp is the attempt's)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(signing_secret).sign(webhook_id, now, body),
    }


@dataclass
class PostResult:
    outcome: str
    http_status: int | None
    text: str
    duration_ms: int


def post_signed(url: str, signing_secret: str, webhook_id: str, body: str) -> PostResult:
    """POST one signed body through the outbound HTTP choke point; never raises."""
    headers = signature_headers(signing_secret, webhook_id, body)
    started = time.monotonic()
    try:
        response = http.request(
            "POST",
            url,
            data=body.encode(),
            headers=headers,
            read_timeout=RESPONSE_TIMEOUT,
            max_bytes=KEEP_BYTES,
        )
    except http.UnsafeURLError as error:
        return PostResult(
            WebhookAttempt.Outcome.REFUSED, None, str(error)[:KEEP_BYTES], _since(started)
        )
    except requests.RequestException as error:
        text = f"{type(error).__name__}: {error}"[:KEEP_BYTES]
        return PostResult(WebhookAttempt.Outcome.FAILURE, None, text, _since(started))
    outcome = WebhookAttempt.Outcome.SUCCESS if response.ok else WebhookAttempt.Outcome.FAILURE
    return PostResult(outcome, response.status, response.text[:KEEP_BYTES], _since(started))


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --- One attempt ------------------------------------------------------------------------


def claim_webhook_delivery(delivery_id: int) -> bool:
    """Compare-and-set: take a due delivery (or one whose worker vanished) for one attempt."""
    now = timezone.now()
    claimable = (
        Q(status=Status.PENDING, next_attempt_at__lte=now)
        | Q(status=Status.DELIVERING, claimed_until__lt=now)
    ) & Q(endpoint__is_active=True, endpoint__disabled_at__isnull=True)
    return bool(
        WebhookDelivery.objects.filter(claimable, pk=delivery_id).update(
            status=Status.DELIVERING,
            claimed_until=now + CLAIM_LEASE,
            attempt_count=F("attempt_count") + 1,
            updated_at=now,
        )
    )


def attempt_delivery(delivery_id: int) -> str | None:
    """Make one attempt if the delivery is due; returns the attempt's outcome, or None."""
    if not claim_webhook_delivery(delivery_id):
        return None
    delivery = WebhookDelivery.objects.select_related("message__bot", "endpoint").get(
        pk=delivery_id
    )
    if delivery.attempt_count > 1:
        # A worker that died mid-attempt left its attempt open.
        delivery.attempts.filter(outcome=WebhookAttempt.Outcome.IN_FLIGHT).update(
            outcome=WebhookAttempt.Outcome.FAILURE,
            response_text="The worker stopped during this attempt.",
        )
    endpoint, message = delivery.endpoint, delivery.message
    attempt = WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempt_count,
        url=endpoint.url,
        started_at=timezone.now(),
    )
    result = post_signed(
        endpoint.url,
        message.bot.signing_secret,
        webhook_id_for(message.msgid),
        encode_body(forward_payload(message)),
    )
    record_outcome(delivery, attempt, result)
    return result.outcome


def record_outcome(delivery: WebhookDelivery, attempt: WebhookAttempt, result: PostResult) -> None:
    now = timezone.now()
    attempt.outcome = result.outcome
    attempt.http_status = result.http_status
    attempt.duration_ms = result.duration_ms
    attempt.response_text = result.text
    delivery.last_http_status = result.http_status
    delivery.claimed_until = None
    if result.outcome == WebhookAttempt.Outcome.SUCCESS:
        delivery.status = Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.last_error = ""
    else:
        delivery.last_error = result.text
        step = delivery.retry_step
        if result.outcome == WebhookAttempt.Outcome.REFUSED or step >= len(RETRY_DELAYS):
            delivery.status = Status.FAILED
            delivery.next_attempt_at = None
        else:
            delay = RETRY_DELAYS[step] * random.uniform(1 - JITTER, 1 + JITTER)
            delivery.status = Status.PENDING
            delivery.next_attempt_at = now + delay
            delivery.retry_step = step + 1
    with transaction.atomic():
        attempt.save(update_fields=["outcome", "http_status", "duration_ms", "response_text"])
        delivery.save(
            update_fields=[
                "status",
                "delivered_at",
                "next_attempt_at",
                "retry_step",
                "claimed_until",
                "last_http_status",
                "last_error",
                "updated_at",
            ]
        )
        metrics.webhook_delivery(delivery.status)
        if result.outcome == WebhookAttempt.Outcome.SUCCESS:
            _endpoint_succeeded(delivery.endpoint_id, now)
        else:
            _endpoint_failed(delivery.endpoint_id, now)
        if delivery.status == Status.PENDING:
            wait = delivery.next_attempt_at - now
            if wait <= WAKE_BY_COUNTDOWN_WITHIN:
                wake_deliveries([delivery.pk], countdown=wait.total_seconds())


def _endpoint_succeeded(endpoint_id: int, now: datetime) -> None:
    # To the second: workers delivering to one busy endpoint do not queue on its row.
    WebhookEndpoint.objects.filter(
        Q(failure_streak__gt=0)
        | Q(last_success_at__isnull=True)
        | Q(last_success_at__lt=now - timedelta(seconds=1)),
        pk=endpoint_id,
    ).update(last_success_at=now, failure_streak=0, failing_since=None)


def _endpoint_failed(endpoint_id: int, now: datetime) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        last_failure_at=now,
        failure_streak=F("failure_streak") + 1,
        failing_since=Coalesce(F("failing_since"), Value(now, output_field=DateTimeField())),
    )
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint_id, disabled_at__isnull=True, failing_since__lte=now - DISABLE_AFTER
    ).update(
        disabled_at=now,
        disabled_reason=f"Every delivery failed for {DISABLE_AFTER.days} days.",
    )
    if disabled:
        logger.warning(
            "Webhook endpoint %s disabled after %s of failures.", endpoint_id, DISABLE_AFTER
        )
