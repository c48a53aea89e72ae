"""Operator actions on deliveries: replay one, replay the failed ones of a period, send a test event.

A replay sends the same message again under the same `webhook-id`, so a
receiver that already processed it can tell, and restarts the retry schedule.

Many deliveries (a period's failed ones, an admin selection) are queued again in
batches, one UPDATE each, within the request: 50,000 failed deliveries took 0.56 s
on SQLite (the whole console request 1.1 s), where locking and auditing them one by
one took 44 s. So no task and no progress page: the operator gets the count at once.
The admin's replay action holds one transaction for its whole selection (all of it and
its audit entries, or none: audit.admin_changes.atomic_action).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta

from celery.utils.functional import chunks
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from audit.services import record_action, recorded_from_page
from botadmin.logging import mask_secrets
from messaging.outbox import IN_FLIGHT, INTERRUPTED

from .drains import wake_deliveries, wake_endpoints
from .locks import lock_endpoint
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .webhook_requests import POST_MARGIN, RESPONSE_TIMEOUT, PostResult, body_secret, post_signed

Status = WebhookDelivery.Status

# Deliveries queued again by one UPDATE, in one short transaction (SQLite holds its write
# lock for it: the workers recording answers wait that long, not for the whole replay).
REPLAY_BATCH = 1000

# A test event's audit entry until its outcome is written (run_test_event).
TEST_EVENT_SENDING = "sending"
# An entry still "sending" this long after it was recorded will never get its outcome: the
# process stopped during the send (a POST ends within RESPONSE_TIMEOUT of its DNS lookup).
TEST_EVENT_OUTCOME_DUE = timedelta(seconds=RESPONSE_TIMEOUT) + POST_MARGIN + timedelta(minutes=1)


class AlreadyReplayed(Exception):
    """The page asking for the replay (its `submission`) replayed the delivery already:
    posted twice (a double click), it replays once."""

    message = gettext_lazy(
        "This delivery was already replayed from this page (posted twice?): it was not "
        "replayed again."
    )


class TestEventAlreadySent(Exception):
    """The page asking for a test event (its `submission`) sent one already."""

    message = gettext_lazy(
        "A test event was already sent from this page (posted twice?): it was not sent again."
    )


def replay_deliveries(user, deliveries: QuerySet[WebhookDelivery], *, submission: str = "") -> int:
    """Queue these deliveries again (any not in flight right now). Returns how many.

    Audited once per endpoint: one delivery as `delivery.replay` (its webhook-id, and the
    id of the page that asked, `submission`: a second post of that page raises
    AlreadyReplayed), several as `delivery.replay_many` with their count."""
    now = timezone.now()
    ids_of: dict[int, list[int]] = defaultdict(list)
    for pk, endpoint_id in deliveries.order_by("pk").values_list("pk", "endpoint_id"):
        ids_of[endpoint_id].append(pk)
    endpoints = WebhookEndpoint.objects.select_related("bot").in_bulk(ids_of)
    total = 0
    for endpoint_id, ids in ids_of.items():
        endpoint = endpoints[endpoint_id]
        if len(ids) == 1:
            total += _replay_one(user, endpoint, ids[0], now, submission)
        else:
            not_in_flight = ~Q(status=Status.DELIVERING, next_attempt_at__gt=now)
            total += _requeue(user, endpoint, ids, not_in_flight, now, submission=submission)
    return total


def replay_failed(user, endpoint: WebhookEndpoint, start: datetime, end: datetime) -> int:
    """Queue again every failed delivery of the endpoint for messages received in
    [start, end), each once (those failed when the replay began: one failing again
    meanwhile is not taken twice). One audit entry says how many and the period."""
    ids = list(failed_deliveries(endpoint, start, end).order_by("pk").values_list("pk", flat=True))
    period = {"start": start.isoformat(), "end": end.isoformat()}
    return _requeue(user, endpoint, ids, Q(status=Status.FAILED), timezone.now(), period)


def replayed_failed_text(count: int) -> str:
    """What an operator reads after `replay_failed` queued `count` deliveries again."""
    return ngettext(
        "%(n)d failed delivery queued again.", "%(n)d failed deliveries queued again.", count
    ) % {"n": count}


def _replay_one(user, endpoint: WebhookEndpoint, pk: int, now: datetime, submission: str) -> int:
    with transaction.atomic():
        row = (
            WebhookDelivery.objects.select_related("message")
            # Not while a worker records an outcome; two posts of one page take turns.
            .select_for_update(of=("self",))
            .filter(pk=pk)
            .exclude(status=Status.DELIVERING, next_attempt_at__gt=now)
            .first()
        )
        if row is None:
            return 0
        if recorded_from_page(
            "delivery.replay", bot=endpoint.bot, target=row, submission=submission
        ):
            raise AlreadyReplayed
        queue_again(WebhookDelivery.objects.filter(pk=pk), now)
        record_action(
            user,
            "delivery.replay",
            bot=endpoint.bot,
            target=row,
            summary=f"Replayed {row.webhook_id} to {endpoint.url}",
            details={
                "webhook_id": row.webhook_id,
                "url": endpoint.url,
                "previous_status": row.status,
                **({"submission": submission} if submission else {}),
            },
        )
        wake_deliveries([pk])
    return 1


def _requeue(
    user,
    endpoint: WebhookEndpoint,
    ids: list[int],
    still: Q,
    now: datetime,
    period=None,
    submission: str = "",
) -> int:
    """Queue `ids` again, REPLAY_BATCH at a time, each only if it is `still` replayable
    (checked by the UPDATE itself, so no row is locked before). The audit entry is
    written with the first batch (nothing is replayed unrecorded) and its count made
    right after the last.

    `submission` (the admin's action bar, in one transaction for the whole action): the
    endpoint's row stays locked until it commits, and a second post of that page raises
    AlreadyReplayed."""
    if submission:
        lock_endpoint(endpoint.pk)  # its bot's row first (forwarding/locks.py)
        if recorded_from_page(
            "delivery.replay_many", bot=endpoint.bot, target=endpoint, submission=submission
        ):
            raise AlreadyReplayed
    replayed, action = 0, None
    for batch in chunks(iter(ids), REPLAY_BATCH):
        with transaction.atomic():
            replayed += queue_again(WebhookDelivery.objects.filter(still, pk__in=batch), now)
            if action is None:
                action = record_action(
                    user,
                    "delivery.replay_many",
                    bot=endpoint.bot,
                    target=endpoint,
                    summary=f"Replaying {len(ids)} deliveries to {endpoint.url}",
                    details={
                        "count": len(ids),
                        **(period or {}),
                        **({"submission": submission} if submission else {}),
                    },
                )
            wake_endpoints([endpoint.pk])  # its drain takes each batch as it comes
    if action is not None:
        action.details["count"] = replayed
        action.summary = mask_secrets(f"Replayed {replayed} deliveries to {endpoint.url}")
        action.save(update_fields=["details", "summary"])
    return replayed


def queue_again(deliveries: QuerySet[WebhookDelivery], now: datetime) -> int:
    """Make these deliveries pending and due now. One `delivering` whose lease ran out
    (its worker died or stalled) has its open attempt completed as interrupted first, as
    a claim taking it back would: left open, the dead worker's attempt would later end
    the lease of the live worker that claims the delivery next (a second POST)."""
    WebhookAttempt.objects.filter(
        delivery__in=deliveries.filter(status=Status.DELIVERING), outcome=IN_FLIGHT
    ).update(outcome=WebhookAttempt.Outcome.FAILURE, response_text=INTERRUPTED)
    return deliveries.update(
        status=Status.PENDING,
        next_attempt_at=now,
        retry_step=0,
        replay_count=F("replay_count") + 1,
        updated_at=now,
    )


def failed_deliveries(endpoint: WebhookEndpoint, start: datetime, end: datetime):
    """The failed deliveries of an endpoint for messages received in [start, end)."""
    return WebhookDelivery.objects.filter(
        endpoint=endpoint, status=Status.FAILED, created_at__gte=start, created_at__lt=end
    )


def send_test_event(endpoint: WebhookEndpoint) -> PostResult:
    """POST a signed sample text message to the endpoint now and return its answer.

    Not recorded as a delivery and not counted in the endpoint's health.
    """
    bot = endpoint.bot
    msgid = uuid.uuid4().hex
    payload = {
        "secret": body_secret(bot, endpoint),
        "msgtype": "text",
        "conversation_id": "botadmin-test",
        "sender": "botadmin",
        "text": {"content": "botadmin test event"},
        "msgid": msgid,
        "timestamp": int(timezone.now().timestamp()),
        "conversation_type": "user",
        "conversation_name": "botadmin",
        "sender_name": "botadmin",
    }
    return post_signed(
        endpoint.url,
        endpoint.signing_secrets(),
        f"msg_test_{msgid}",
        payload,
        api_secret=bot.secret,
    )


def run_test_event(actor, endpoint: WebhookEndpoint, *, submission: str = "") -> PostResult:
    """Send a test event on an operator's request, recorded before it is sent (with the id
    of the page that asked, `submission`) and its outcome after. A second post of that page
    raises TestEventAlreadySent and sends nothing."""
    with transaction.atomic():
        # Two posts of one page take turns here (a short lock: not held while sending).
        lock_endpoint(endpoint.pk)  # its bot's row first (forwarding/locks.py)
        if recorded_from_page(
            "endpoint.test", bot=endpoint.bot, target=endpoint, submission=submission
        ):
            raise TestEventAlreadySent
        action = record_action(
            actor,
            "endpoint.test",
            bot=endpoint.bot,
            target=endpoint,
            summary=TEST_EVENT_SENDING,
            details={"submission": submission} if submission else {},
        )
    result = send_test_event(endpoint)
    action.summary = f"{result.outcome} {result.http_status or ''}".strip()
    action.save(update_fields=["summary"])
    return result


def test_event_outcome(action) -> str:
    """A test event's audit entry in the reader's language, as the console's operator
    actions and the admin's list show it, on its own in its cell: its outcome and HTTP
    status ("success 200" as recorded, "Success · HTTP 200" shown); one still "sending"
    long after its answer was due never gets one: its process stopped."""
    if action.summary == TEST_EVENT_SENDING:
        if action.created_at > timezone.now() - TEST_EVENT_OUTCOME_DUE:
            return gettext("Sending, no answer yet")
        return gettext("Outcome unknown (the process stopped during the send)")
    outcome, _, status = action.summary.partition(" ")
    if outcome not in WebhookAttempt.Outcome.values:
        return action.summary
    label = str(WebhookAttempt.Outcome(outcome).label)
    return f"{label} · HTTP {status}" if status else label
