"""Sending claimed messages: each through its connector in turn, its parts in order,
while the worker keeps its batch's leases and heeds stops asked meanwhile.

Part of the delivery engine: the protocol is described in messaging/delivery.py.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext_noop

from botadmin import logging as botadmin_logging
from botadmin import reasons
from botadmin.reasons import Reason
from connectors import conversions
from connectors.base import Connector, Outcome, SendResult
from connectors.registry import connector_for

from . import card_task_ids, delivery_caps, uploads
from .delivery_claim import (
    CONVERSATION_BEING_DELETED,
    CONVERSATION_INACTIVE,
    Attempt,
    Clock,
)
from .delivery_outcomes import record
from .models import DeliveryAttempt, Message
from .outbox import RECORD_EVERY_SECONDS, renew_leases

logger = logging.getLogger(__name__)

# A worker holding a batch reads at least this often whether the messages it has not
# sent yet were stopped meanwhile (`stopped_meanwhile`), and always before its first call.
RECHECK_SECONDS = RECORD_EVERY_SECONDS
# A worker renews the leases of the messages of its batch it has not sent yet once this
# much of them has gone (`keep_leases`): each send starts with nearly a whole
# DELIVERY_SENDING_TIMEOUT before it, as a batch's first does, however slow the sends
# before it were.
RENEW_AFTER_SECONDS = 10
# `stopped_meanwhile`'s word for a claimed message whose conversation's deletion was asked
# for meanwhile (not a status: the message is cancelled, saying why).
BEING_DELETED = "conversation being deleted"
# And for an announcement's message whose conversation was switched off meanwhile.
INACTIVE = "conversation inactive"
# The reason a message cancelled for one of those says.
CANCELLED_BECAUSE = {
    BEING_DELETED: CONVERSATION_BEING_DELETED,
    INACTIVE: CONVERSATION_INACTIVE,
}


def send_and_record(attempts: list[Attempt], clock: Clock) -> list[str]:
    """Send each claimed message in turn, recording the answers every RECORD_EVERY_SECONDS.

    Before the first call, and again before any call once RECHECK_SECONDS have passed,
    it reads whether the rest of the batch was stopped meanwhile (`stopped_meanwhile`).
    Before a call whose lease has run low (RENEW_AFTER_SECONDS), it records the answers
    so far and renews the leases of the rest of the batch (`keep_leases`); a message
    the sweeper took back meanwhile (this worker stalled past its lease) is its own.
    """
    statuses: list[str] = []
    unrecorded: list[Attempt] = []
    last_record = time.monotonic()
    stopped: dict[int, str | None] = {}
    last_check = -math.inf
    held = {attempt.message.pk for attempt in attempts}
    lease_seconds = settings.DELIVERY_SENDING_TIMEOUT
    renew_below = timedelta(seconds=lease_seconds - min(RENEW_AFTER_SECONDS, lease_seconds / 2))
    for index, attempt in enumerate(attempts):
        message = attempt.message
        botadmin_logging.bind(bot=message.bot.name, message_id=message.msgid)
        if message.pk in held and message.next_attempt_at - clock() < renew_below:
            statuses += record(unrecorded, clock)
            unrecorded, last_record = [], time.monotonic()
            held = keep_leases(attempts[index:], clock)
        if message.pk not in held:
            statuses.append("skipped")
            continue
        if time.monotonic() - last_check >= RECHECK_SECONDS:
            stopped, last_check = stopped_meanwhile(attempts[index:]), time.monotonic()
        if message.pk in stopped and (kept := keep_back(attempt, stopped[message.pk], clock)):
            statuses.append(kept)
            continue
        began = time.monotonic()
        attempt.result, attempt.converted = call_connector(message, clock())
        attempt.duration_ms = int((time.monotonic() - began) * 1000)
        unrecorded.append(attempt)
        if time.monotonic() - last_record >= RECORD_EVERY_SECONDS:
            statuses += record(unrecorded, clock)
            unrecorded, last_record = [], time.monotonic()
    return statuses + record(unrecorded, clock)


def keep_leases(attempts: list[Attempt], clock: Clock) -> set[int]:
    """Renew the leases of these claimed messages that are still this claim's (still
    `sending` under the lease it gave them: an attempt count says nothing, as an
    operator's retry starts it again); returns their ids."""
    now = clock()
    lease = now + timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT)
    claimed = {attempt.message.pk: attempt.message.next_attempt_at for attempt in attempts}
    held = renew_leases(
        Message.objects.all(), Message.Status.SENDING, claimed, "next_attempt_at", lease, now
    )
    for attempt in attempts:
        if attempt.message.pk in held:
            attempt.message.next_attempt_at = lease
    return held


def stopped_meanwhile(attempts: list[Attempt]) -> dict[int, str | None]:
    """Which of these claimed messages must not be sent after all, read in one query.

    A claimed message may wait in its worker's batch behind slow sends, and
    meanwhile an operator stops it (`stop_requested`: delivery_actions.stop), its
    bot is paused or switched off, its conversation's deletion is asked for (or, for an
    announcement's message, its conversation is switched off), or the sweeper takes it
    back (its lease ran out). By id: the stop asked for ("" for its bot, BEING_DELETED or
    INACTIVE for its conversation), or None when taken back.
    """
    leases = {a.message.pk: a.message.next_attempt_at for a in attempts}
    rows = Message.objects.filter(pk__in=leases, status=Message.Status.SENDING).values_list(
        "pk",
        "next_attempt_at",
        "stop_requested",
        "bot__paused_at",
        "bot__is_active",
        "conversation__deletion_requested_at",
        "conversation__is_active",
        "announcement_run_id",
    )
    found = {pk: row for pk, *row in rows}
    stopped: dict[int, str | None] = {}
    for pk, lease in leases.items():
        held_lease, stop, paused_at, active, deleting, reachable, run = found.get(
            pk, (None, "", None, True, None, True, None)
        )
        if held_lease != lease:
            stopped[pk] = None
        elif deleting is not None:
            stopped[pk] = BEING_DELETED
        elif run is not None and not reachable:
            stopped[pk] = INACTIVE
        elif stop or paused_at is not None or not active:
            stopped[pk] = stop
    return stopped


def keep_back(attempt: Attempt, stop: str | None, clock: Clock) -> str | None:
    """Not send this claimed message after all (`stopped_meanwhile` said `stop`): what
    became of it, or None when it may go (the stop was lifted meanwhile).

    The claim is undone: no call was made, so no attempt either; the message takes
    the stop's status (cancelled, or held), or waits queued for its bot's resume.
    One whose conversation is being deleted (or, an announcement's, switched off) is
    cancelled, whatever stop was asked.
    One taken back is left to whoever took it."""
    if stop is None:
        return "skipped"
    message = attempt.message
    because = CANCELLED_BECAUSE.get(stop)
    status = Message.Status.CANCELLED if because else stop or Message.Status.QUEUED
    changes = {
        "status": status,
        "next_attempt_at": None,
        "attempt_count": F("attempt_count") - 1,
        "stop_requested": "",
        "updated_at": clock(),
    }
    if status == Message.Status.SCHEDULED:
        changes["scheduled_at"] = None  # held
    held_by_this_claim = Q(
        pk=message.pk, status=Message.Status.SENDING, next_attempt_at=message.next_attempt_at
    )
    if because:
        changes["last_error"] = Reason(because)
    else:
        held_by_this_claim &= Q(stop_requested=stop)
    with transaction.atomic():
        undone = Message.objects.filter(held_by_this_claim).update(**changes)
        if undone:
            DeliveryAttempt.objects.filter(pk=attempt.row.pk).delete()
    if undone:
        return "paused" if status == Message.Status.QUEUED else str(status)
    now_stopped = stopped_meanwhile([attempt])  # it changed meanwhile: read it again
    if message.pk not in now_stopped:
        return None
    return keep_back(attempt, now_stopped[message.pk], clock)


def call_connector(
    message: Message, now: datetime
) -> tuple[SendResult, conversions.Converted | None]:
    """Convert the body to what the bot sends (connectors/conversions.py) and send it; a
    file or voice sent by an upload's media_id goes with the upload's bytes."""
    connector = connector_for(message.bot)
    try:
        body = uploads.body_to_send(message)
    except uploads.UploadGone as error:
        return SendResult(Outcome.FAILED, reasons.of(error)), None
    except Exception as error:  # the media store (a bucket that is down): nothing was sent
        logger.warning("Media store unavailable for message %s", message.pk, exc_info=True)
        unavailable = gettext_noop("media store unavailable: %(error)s")
        return SendResult(
            Outcome.RETRY, Reason(unavailable, error=botadmin_logging.error_text(error))
        ), None
    try:
        converted = conversions.convert(connector, body)
    except conversions.CannotConvert as error:
        # Accepted before the bot's capabilities changed (an agent announcing less).
        return SendResult(Outcome.FAILED, reasons.of(error)), None
    except Exception as error:  # a conversion bug must not leave the message `sending`
        logger.exception("Converting message %s failed", message.pk)
        bug = Reason(
            gettext_noop("conversion error: %(error)s"), error=botadmin_logging.error_text(error)
        )
        return SendResult(Outcome.FAILED, bug), None
    return send_parts(connector, message, converted.bodies, now), converted


def send_parts(
    connector: Connector, message: Message, bodies: list[dict], now: datetime
) -> SendResult:
    """Send each body in order; the first keeps the message's id, the others get -2, -3, ….

    The other side's daily caps are taken for every part first (messaging/delivery_caps.py):
    a message that would pass one is held whole, and what parts that did not go out took
    is given back. After a first part went out, a part that could be retried is
    `uncertain` on a connector that does not dedupe (a retry would send the first again).
    """
    result = SendResult(Outcome.FAILED, Reason(gettext_noop("nothing to send")))
    if not bodies:
        return result
    try:
        caps = connector.daily_caps(message.conversation)
    except Exception as error:  # a connector bug: nothing was sent
        logger.exception("Connector %s crashed on message %s", message.bot.connector, message.pk)
        return SendResult(
            Outcome.RETRY,
            Reason(
                gettext_noop("connector error: %(error)s"), error=botadmin_logging.error_text(error)
            ),
        )
    taken = delivery_caps.take(caps, len(bodies), now)
    if isinstance(taken, SendResult):
        return taken
    for index, body in enumerate(bodies):
        part_id = message.msgid if index == 0 else f"{message.msgid}-{index + 1}"
        result = send_part(connector, message, part_id, body)
        if result.outcome != Outcome.SENT:
            # RETRY and FAILED: this part was not delivered; UNCERTAIN: it may have been.
            delivered = index + (result.outcome == Outcome.UNCERTAIN)
            taken.give_back(len(bodies) - delivered)
            if index and len(bodies) > 1:
                result.detail = Reason(
                    gettext_noop("part %(part)s of %(parts)s: %(reason)s"),
                    part=index + 1,
                    parts=len(bodies),
                    reason=result.detail,
                )
                if result.outcome == Outcome.RETRY and not connector.idempotent:
                    result.outcome = Outcome.UNCERTAIN
            return result
    return result


def send_part(connector: Connector, message: Message, part_id: str, body: dict) -> SendResult:
    """One part through the connector; a template card first gets its task_id for the part
    where the other side wants each used once (`Connector.unique_card_task_ids`)."""
    if connector.unique_card_task_ids and body["msgtype"] == "template_card":
        try:
            body = card_task_ids.own_card(message.bot_id, body, part_id)
        except DatabaseError as error:  # nothing was sent
            unavailable = gettext_noop("the database is unavailable: %(error)s")
            return SendResult(Outcome.RETRY, Reason(unavailable, error=error.__class__.__name__))
    try:
        return connector.send(part_id, message.conversation, body)
    except Exception as error:  # a connector bug must not leave the message `sending`
        logger.exception("Connector %s crashed on message %s", message.bot.connector, message.pk)
        outcome = Outcome.RETRY if connector.idempotent else Outcome.UNCERTAIN
        bug = Reason(
            gettext_noop("connector error: %(error)s"), error=botadmin_logging.error_text(error)
        )
        return SendResult(outcome, bug)
