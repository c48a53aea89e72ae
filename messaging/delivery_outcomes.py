"""Recording attempts: what an attempt's outcome makes of its message (sent, retried
with a backoff, failed, uncertain, or stopped as an operator asked in flight), and the
one write that records a batch's attempts and moves their messages on.

Part of the delivery engine: the protocol is described in messaging/delivery.py.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import metrics, reasons
from botadmin.reasons import Reason, ngettext_noop
from connectors.base import Outcome
from connectors.registry import connector_class
from conversations.pauses import pause_bot
from conversations.refusals import noted, refusal

from .delivery_claim import Attempt, Clock
from .models import DeliveryAttempt, Message
from .outbox import RETRY_AFTER_AT_MOST, delivery_schedule, retry_delay, update_each

logger = logging.getLogger(__name__)

RESPONSE_TEXT_LIMIT = 1024


# What recording an attempt may change on its message.
RECORDED = [
    "status",
    "next_attempt_at",
    "last_error",
    "updated_at",
    "sent_at",
    "upstream_msgid",
    "sent_as",
    "conversion",
    "stop_requested",
    "scheduled_at",  # none when held (`stopped_changes`)
]
# What recording an attempt may add to (the difference from the claim's value): a hold
# for a daily cap takes back its claim's attempt, as nothing was tried.
RECORDED_ADDED = ["attempt_count"]
# A message that did go out is `sent`, whatever became of it meanwhile (taken back by
# the sweeper, then queued, held, cancelled, failed or uncertain).
SENT_WHATEVER = (
    Message.Status.QUEUED,
    Message.Status.SCHEDULED,
    Message.Status.CANCELLED,
    Message.Status.FAILED,
    Message.Status.UNCERTAIN,
)


def record(attempts: list[Attempt], clock: Clock) -> list[str]:
    """Write the attempts' outcomes and move their messages on, in one transaction.

    Only the claim that sent a message may move it: one taken back meanwhile
    (its lease ran out) keeps what the sweeper decided, except that a message
    that did go out is `sent` whatever became of it.
    """
    if not attempts:
        return []
    now = clock()
    messages, rows = [], []
    with transaction.atomic():
        stops = requested_stops(attempts)
        for attempt in attempts:
            message, result = attempt.message, attempt.result
            changes = outcome_changes(attempt, now, stops.get(message.pk, ""))
            also = ("",) * len(SENT_WHATEVER)
            if attempt.status == Message.Status.SENT:
                also = SENT_WHATEVER
            lease = message.next_attempt_at  # this claim's: another claim has another
            values = [changes.get(name, getattr(message, name)) for name in RECORDED]
            added = [
                changes.get(name, getattr(message, name)) - getattr(message, name)
                for name in RECORDED_ADDED
            ]
            messages.append((*values, *added, message.pk, Message.Status.SENDING, lease, *also))
            outcome = Outcome.SENT if attempt.status == Message.Status.SENT else result.outcome
            if result.outcome == Outcome.RETRY and attempt.status == Message.Status.FAILED:
                outcome = Outcome.FAILED  # gave up
            rows.append(
                (
                    outcome,
                    attempt.duration_ms,
                    result.http_status,
                    result.errcode,
                    reasons.shorten(result.detail, RESPONSE_TEXT_LIMIT),
                    attempt.row.pk,
                )
            )
        moved = update_each(
            Message,
            RECORDED,
            messages,
            added=RECORDED_ADDED,
            where="(status = %s AND next_attempt_at = %s) OR status IN ("
            + ", ".join(["%s"] * len(SENT_WHATEVER))
            + ")",
        )
        update_each(
            DeliveryAttempt,
            ["outcome", "duration_ms", "http_status", "errcode", "response_text"],
            rows,
        )
        # In bot id order, as every worker: two pausing the same bots never deadlock.
        for attempt in sorted(attempts, key=lambda a: a.message.bot_id):
            if attempt.result.account_problem:
                pause_bot(attempt.message.bot_id, attempt.result.account_problem, now)
            elif attempt.status == Message.Status.SENT and refusal(attempt.message.bot):
                noted(attempt.message.bot, "")  # the agent took the token again
    if moved < len(attempts):
        found = dict(
            Message.objects.filter(pk__in=[a.message.pk for a in attempts]).values_list(
                "pk", "updated_at"
            )
        )
        mine = {pk for pk, updated_at in found.items() if updated_at == now}
        for attempt in attempts:
            pk = attempt.message.pk
            if pk in found and pk not in mine:
                logger.info(
                    "Message %s was taken back while sending; its outcome (%s) is only logged.",
                    pk,
                    attempt.status,
                )
            elif pk not in found:
                # Its deletion went on past its lease (deletions/services.py waits until then).
                logger.warning(
                    "Message %s was deleted while sending; its outcome (%s: %s) is only logged.",
                    pk,
                    attempt.status,
                    attempt.result.detail,
                )
        attempts_moved = [a for a in attempts if a.message.pk in mine]
    else:
        attempts_moved = attempts
    for attempt in attempts_moved:
        metrics.message_delivered(attempt.message, attempt.status, now, attempt.converted)
    return ["retry" if a.status == Message.Status.QUEUED else str(a.status) for a in attempts]


def requested_stops(attempts: list[Attempt]) -> dict[int, str]:
    """The stops asked of these messages while they were in flight (`stop_requested`), by
    id; only a retry heeds one, so read only when there is one.

    Intent: lock the batch's rows first, in id order, as delivery_actions.stop does
    (no circle of waits); a stop marks them before this reads, or finds them moved on
    from `sending` once this commits and stops them itself."""
    if all(a.result.outcome != Outcome.RETRY for a in attempts):
        return {}
    locked = (
        Message.objects.select_for_update(of=("self",))
        .filter(pk__in=[a.message.pk for a in attempts])
        .order_by("pk")
    )
    return {pk: stop for pk, stop in locked.values_list("pk", "stop_requested") if stop}


def outcome_changes(attempt: Attempt, now: datetime, stop: str = "") -> dict:
    """The message's new columns after this attempt; `stop`: the status an operator
    asked for while it was in flight (`stop_requested`)."""
    result, message = attempt.result, attempt.message
    changes: dict = {
        "updated_at": now,
        "last_error": reasons.shorten(result.detail, 2000),
        "stop_requested": "",
    }
    if attempt.converted is not None:
        changes |= {"sent_as": attempt.converted.sent_as, "conversion": attempt.converted.note}
    if result.outcome == Outcome.SENT:
        changes |= {
            "status": Message.Status.SENT,
            "sent_at": now,
            "next_attempt_at": None,
            "last_error": "",
            "upstream_msgid": result.upstream_msgid[:128],
        }
    elif result.outcome == Outcome.RETRY and stop:
        parts = len(attempt.converted.bodies) if attempt.converted else 1
        # An idempotent connector retries after no answer too (its repeat is harmless),
        # so such an attempt, or one that sent a part before failing, may have arrived.
        unsure = (
            connector_class(message.bot.connector).idempotent
            and (result.http_status is None or parts > 1)
            and result.hold_until is None
        )
        changes |= stopped_changes(stop, result.detail, now, unsure)
    elif result.outcome == Outcome.RETRY and result.hold_until is not None:
        # A daily cap: nothing went out, and the day it waits for comes whatever happens.
        # Nor is it an attempt: its claim's is taken back (its attempt row stays, saying
        # why it waited), else each hold would use up the retries the message has left.
        changes |= {
            "status": Message.Status.QUEUED,
            "next_attempt_at": result.hold_until,
            "attempt_count": message.attempt_count - 1,
        }
    elif result.outcome == Outcome.RETRY:
        asked = min(result.retry_after or 0.0, RETRY_AFTER_AT_MOST)  # an agent's Retry-After
        delay = retry_delay(delivery_schedule(), message.attempt_count, asked)
        if delay is None:
            changes |= {
                "status": Message.Status.FAILED,
                "next_attempt_at": None,
                "last_error": gave_up(message.attempt_count, result.detail),
            }
        else:
            changes |= {
                "status": Message.Status.QUEUED,
                "next_attempt_at": now + timedelta(seconds=delay),
            }
    elif result.outcome == Outcome.UNCERTAIN:
        changes |= uncertain_changes(result.detail, now)
    else:
        changes |= {"status": Message.Status.FAILED, "next_attempt_at": None}
    attempt.status = changes["status"]
    return changes


# Also what a media fetch that ran out of time says (media_fetch._retry).
GAVE_UP = ngettext_noop(
    "gave up after %(count)s attempt: %(reason)s",
    "gave up after %(count)s attempts: %(reason)s",
    "count",
)
# What rows stored before GAVE_UP had a singular say ("gave up after 1 attempts: …"):
# kept so they translate. Their English stays as it was stored.
EARLIER_GAVE_UP = gettext_noop("gave up after %(count)s attempts: %(reason)s")


def gave_up(attempts: int, detail: str) -> Reason:
    """The last error of a message that failed with its DELIVERY_MAX_ATTEMPTS used up."""
    return Reason(GAVE_UP, count=attempts, reason=reasons.shorten(detail, 2000))


STOPPED_IN_FLIGHT = {
    Message.Status.CANCELLED: gettext_noop(
        "%(reason)s — not tried again: cancelled while this attempt was in flight"
    ),
    Message.Status.SCHEDULED: gettext_noop(
        "%(reason)s — held: paused while this attempt was in flight; tried again when resumed"
    ),
}


def stopped_changes(stop: str, detail: str, now: datetime, unsure: bool) -> dict:
    """A message stopped while in flight (`stop_requested`) whose attempt did not deliver
    it for sure: cancelled or held as asked, not retried. `unsure`: the attempt may have
    arrived; a cancelled one is then `uncertain` (an operator checks the chat), never
    called cancelled; a held one is repeated on resume, which its connector dedupes."""
    note = Reason(STOPPED_IN_FLIGHT[stop], reason=reasons.shorten(detail, 2000))
    if stop == Message.Status.CANCELLED and unsure:
        return uncertain_changes(note, now)
    changes = {"status": stop, "next_attempt_at": None, "last_error": note}
    if stop == Message.Status.SCHEDULED:
        changes["scheduled_at"] = None
    return changes


UNCERTAIN_HOLD = gettext_noop(
    "%(reason)s — it may have been delivered: newer messages of this conversation wait "
    "until %(until)s %(zone)s (DELIVERY_UNCERTAIN_HOLD) unless an operator marks it sent or "
    "retries it first"
)
# What rows stored before UNCERTAIN_HOLD said (a time in UTC): kept so they translate.
EARLIER_UNCERTAIN_HOLD = gettext_noop(
    "%(reason)s — it may have been delivered: newer messages of this conversation wait "
    "until %(until)s UTC (DELIVERY_UNCERTAIN_HOLD) unless an operator marks it sent or "
    "retries it first"
)


def uncertain_changes(detail: str, now: datetime) -> dict:
    """Nothing retries an uncertain message; it holds its conversation's newer messages for
    DELIVERY_UNCERTAIN_HOLD (`due_messages`), and says so."""
    # The console's time zone, as every other time on the pages that show it (it was UTC).
    until = timezone.localtime(now + timedelta(seconds=settings.DELIVERY_UNCERTAIN_HOLD))
    note = Reason(
        UNCERTAIN_HOLD,
        reason=reasons.shorten(detail, 2000),
        until=f"{until:%Y-%m-%d %H:%M:%S}",
        zone=timezone.get_current_timezone_name(),
    )
    return {"status": Message.Status.UNCERTAIN, "next_attempt_at": None, "last_error": note}
