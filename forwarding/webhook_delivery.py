"""Forwarding: sign, POST, record the attempt, schedule the retry, keep endpoint health.

It follows the outbox protocol (messaging/outbox.py), as delivery does: the
WebhookDelivery row is the outbox entry; a worker claims due deliveries in
batches (`claim_due_deliveries`: locked, marked `delivering` with the lease in
`next_attempt_at`, one open attempt row each), POSTs them one after the other
(renewing the leases of the rest when slow answers would outlast them), and
records the answers; a delivery whose lease ran out, or whose attempt's process is gone
from this host (the sweeper ends such a lease at once), is taken back by the
next claim, its open attempt completed as interrupted. What wakes a worker, and what a
woken worker forwards (a drain, the sweeper): forwarding/drains.py.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Case, DateTimeField, F, Prefetch, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_noop
from standardwebhooks.webhooks import Webhook

from botadmin import http, metrics, reasons
from botadmin.logging import MASK
from botadmin.partial_indexes import index_condition
from botadmin.reasons import Reason
from messaging.media_links import with_media_fields
from messaging.models import MessageMedia
from messaging.outbox import (
    CLAIM_BATCH,
    FORWARDING_SCHEDULE,
    IN_FLIGHT,
    INTERRUPTED,
    RECORD_EVERY_SECONDS,
    holder,
    lock_due,
    renew_leases,
    retry_delay,
    update_each,
)

from . import attempt_reasons
from .models import DUE, WebhookAttempt, WebhookDelivery, WebhookEndpoint, webhook_id_for

logger = logging.getLogger(__name__)

# An endpoint whose deliveries kept failing for this long is disabled: no success, and
# never QUIET_RESETS without a failure (a failure after such a quiet spell starts anew).
DISABLE_AFTER = timedelta(days=3)
QUIET_RESETS = timedelta(hours=24)
# Any 2xx within 15 s is success.
RESPONSE_TIMEOUT = 15
KEEP_BYTES = 1024
# A worker owns a claimed delivery this long; then the sweeper may hand it to another.
CLAIM_LEASE = timedelta(seconds=RESPONSE_TIMEOUT * 4)
# A POST ends within its deadline after resolving its host (BOTADMIN_DNS_TIMEOUT): a
# worker renews its batch's leases before one that could end past them.
POST_MARGIN = timedelta(seconds=2)
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


# --- The request ------------------------------------------------------------------------


# The body's "secret" for an endpoint not sent the bot's API secret: the seed
# document's value (section 3, `"secret": "-"`).
WITHHELD_SECRET = "-"


def body_secret(bot, endpoint) -> str:
    """What the body's `secret` says to `endpoint`: the bot's API secret, or "-" when the
    endpoint is not sent it (`WebhookEndpoint.sends_api_secret`). Read when each attempt
    is made, so a retry or a replay follows the endpoint's setting of the moment."""
    return bot.secret if endpoint.sends_api_secret else WITHHELD_SECRET


def forward_payload(message, endpoint) -> dict:
    """The seed-format body as the agent sent it, with the secret and msgid/timestamp filled.

    The secret is not stored with the message (the log is visible to operators
    who may not see secrets); it is added here, as the seed document shows, or "-"
    for an endpoint not sent it (`body_secret`). An archived copy of its media adds
    `url`, `content_type`, `size`, `sha256` to the msgtype object (bridge spec
    section 7).
    """
    body = with_media_fields(message, dict(message.body))
    # Missing or null (the agent may send either): receivers rely on both to reply and order.
    if body.get("msgid") is None:
        body["msgid"] = message.upstream_msgid or message.msgid
    if body.get("timestamp") is None:
        body["timestamp"] = int((message.sent_at or message.created_at).timestamp())
    return {"secret": body_secret(message.bot, endpoint), **body}


def encode_body(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def signature_headers(
    signing_secrets: str | list[str], webhook_id: str, body: str
) -> dict[str, str]:
    """Standard Webhooks headers for one attempt (the timestamp is the attempt's).

    One signature per secret, space-separated: during a signing secret's grace
    period a receiver holding either the old or the new secret verifies it.
    The secrets are the endpoint's own (WebhookEndpoint.signing_secrets)."""
    secrets = [signing_secrets] if isinstance(signing_secrets, str) else signing_secrets
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "Content-Type": "application/json; charset=utf-8",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(
            Webhook(secret).sign(webhook_id, now, body) for secret in secrets
        ),
    }


@dataclass
class PostResult:
    outcome: str
    http_status: int | None
    text: str
    duration_ms: int
    started_at: datetime | None = None  # the POST's, as its webhook-timestamp says


def post_signed(
    url: str,
    signing_secrets: str | list[str],
    webhook_id: str,
    payload: dict,
    *,
    api_secret: str,
) -> PostResult:
    """POST one signed payload through the outbound HTTP choke point; never raises.

    Success is a 2xx complete within RESPONSE_TIMEOUT of the start, connecting
    included (`deadline`): the read timeout alone bounds each wait for more
    bytes, not an answer that keeps crawling in. The answer is kept without the
    bot's `api_secret`, whether or not the payload carries it: a receiver refusing
    an event may quote it back, and every operator of the bot reads the answers."""
    body = encode_body(payload)
    headers = signature_headers(signing_secrets, webhook_id, body)
    started_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    started = time.monotonic()

    def result(outcome: str, http_status: int | None, text: str) -> PostResult:
        return PostResult(outcome, http_status, text, _since(started), started_at)

    try:
        response = http.request(
            "POST",
            url,
            data=body.encode(),
            headers=headers,
            read_timeout=RESPONSE_TIMEOUT,
            deadline=RESPONSE_TIMEOUT,
            max_bytes=KEEP_BYTES,
            webhook=True,
        )
    except http.UnsafeURLError as error:
        refused = Reason(
            gettext_noop("URL refused: %(error)s"),
            error=reasons.shorten(reasons.of(error), KEEP_BYTES),
        )
        return result(WebhookAttempt.Outcome.REFUSED, None, refused)
    except requests.RequestException as error:
        return result(
            WebhookAttempt.Outcome.FAILURE, None, attempt_reasons.unanswered(error, KEEP_BYTES)
        )
    outcome = WebhookAttempt.Outcome.SUCCESS if response.ok else WebhookAttempt.Outcome.FAILURE
    text = _without_secret(response.text, api_secret)
    return result(outcome, response.status, text[:KEEP_BYTES])


def _post_at_most() -> timedelta:
    return timedelta(seconds=settings.BOTADMIN_DNS_TIMEOUT + RESPONSE_TIMEOUT) + POST_MARGIN


def _without_secret(text: str, secret: str) -> str:
    """`text` with `secret` masked, also the start of it an answer cut at KEEP_BYTES ends in."""
    if not secret:
        return text
    text = text.replace(secret, MASK)
    for length in range(len(secret) - 1, 3, -1):
        if text.endswith(secret[:length]):
            return text[:-length] + MASK
    return text


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --- Attempts ---------------------------------------------------------------------------


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
        if delivery.next_attempt_at - timezone.now() < _post_at_most():
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
        _keep_endpoint_health(attempts, now)
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
    delay = retry_delay(FORWARDING_SCHEDULE, delivery.retry_step + 1)
    if result.outcome == WebhookAttempt.Outcome.REFUSED or delay is None:
        delivery.status = Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.status = Status.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.retry_step += 1


def _keep_endpoint_health(attempts: list[Attempt], now: datetime) -> None:
    """Per endpoint, in id order (every worker locks them in the same order): a success
    resets its failure streak; the failures after its last success in this batch extend it."""
    outcomes: dict[int, list[bool]] = {}
    for attempt in attempts:
        succeeded = attempt.result.outcome == WebhookAttempt.Outcome.SUCCESS
        outcomes.setdefault(attempt.delivery.endpoint_id, []).append(succeeded)
    for endpoint_id, successes in sorted(outcomes.items()):
        if any(successes):
            _endpoint_succeeded(endpoint_id, now)
            successes = successes[len(successes) - successes[::-1].index(True) :]
        if successes:
            _endpoint_failed(endpoint_id, now, failures=len(successes))


def _endpoint_succeeded(endpoint_id: int, now: datetime) -> None:
    # To the second: workers delivering to one busy endpoint do not queue on its row.
    WebhookEndpoint.objects.filter(
        Q(failure_streak__gt=0)
        | Q(last_success_at__isnull=True)
        | Q(last_success_at__lt=now - timedelta(seconds=1)),
        pk=endpoint_id,
    ).update(last_success_at=now, failure_streak=0, failing_since=None)


def _endpoint_failed(endpoint_id: int, now: datetime, failures: int = 1) -> None:
    """Failures since `failing_since` (the streak the admin shows with it); an endpoint
    whose failures kept coming for DISABLE_AFTER is disabled.

    "Kept coming": its failure clock (`failing_since`) starts again at a failure that
    follows QUIET_RESETS without any, so one failure on Monday and the next on Thursday
    (nothing to deliver in between) is a fresh start, not three days of failing. One
    message's retries fail at most 10 h apart: an endpoint that fails what it is sent,
    while it is sent something every day, is disabled after DISABLE_AFTER. (An endpoint
    that received nothing has no failures: it is never disabled.)"""
    # Both read the row as it was before this UPDATE (SQL evaluates every SET on the old row).
    fresh_start = Q(failing_since__isnull=True) | Q(last_failure_at__lt=now - QUIET_RESETS)
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        last_failure_at=now,
        failure_streak=Case(
            When(fresh_start, then=Value(failures)), default=F("failure_streak") + failures
        ),
        failing_since=Case(
            When(fresh_start, then=Value(now, output_field=DateTimeField())),
            default=F("failing_since"),
        ),
    )
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint_id, disabled_at__isnull=True, failing_since__lte=now - DISABLE_AFTER
    ).update(
        disabled_at=now,
        disabled_reason=Reason(
            gettext_noop(
                "Deliveries kept failing for %(days)s days: no success, and never %(hours)s "
                "hours without a failure."
            ),
            days=DISABLE_AFTER.days,
            hours=int(QUIET_RESETS.total_seconds() // 3600),
        ),
    )
    if disabled:
        logger.warning(
            "Webhook endpoint %s disabled after %s of failures.", endpoint_id, DISABLE_AFTER
        )
