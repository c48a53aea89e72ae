"""The delivery engine: claim a queued message, send it through its connector, record the outcome.

`deliver(message_id)` is what the Celery task `messaging.deliver_messages`
runs; `sweep()` is what the periodic sweeper runs. Both are safe to run any
number of times for the same message:

* the claim is a compare-and-set (queued → sending) under a row lock, after
  checking that the message is due, that its bot is not paused, that no older
  message of its conversation is still pending (order), and that the rate
  limits allow it (otherwise it waits: `next_attempt_at`, not a failure);
* while `sending`, `next_attempt_at` is the lease: past it, the sweeper takes
  the message back (a killed worker), retrying it when the connector is
  idempotent and marking it `uncertain` when it is not;
* every call to a connector leaves a DeliveryAttempt row.

Every function takes a `clock` so tests can run minutes of rate limiting in
simulated time.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from botadmin import logging as botadmin_logging
from botadmin import metrics
from connectors import conversions
from connectors.base import Connector, Outcome, SendResult
from connectors.registry import connector_class, connector_for
from conversations.models import Bot

from . import delivery_pace
from .models import DeliveryAttempt, Message

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
RESPONSE_TEXT_LIMIT = 1024
# A message waiting behind an older one is due again after this long, so the
# sweeper finds it if the older one's wake-up is lost (normally that one wakes it).
ORDER_RECHECK_SECONDS = 60


@dataclass
class Step:
    """What one `deliver` call did, and which messages want a worker when."""

    result: str  # sent / failed / uncertain / retry / waiting / skipped
    wake: list[tuple[int, float]] = field(default_factory=list)  # (message pk, delay s)


def deliver(message_id: int, clock: Clock = timezone.now) -> Step:
    claimed = claim_message(message_id, clock)
    if isinstance(claimed, Step):
        return claimed
    message = claimed
    botadmin_logging.bind(bot=message.bot.name, message_id=message.msgid)
    started_at = clock()
    began = time.monotonic()
    result, converted = call_connector(message)
    duration_ms = int((time.monotonic() - began) * 1000)
    return record(message, result, started_at, duration_ms, clock, converted)


def claim_message(message_id: int, clock: Clock) -> Message | Step:
    """The message, now `sending`, or the Step saying why it may not leave yet."""
    with transaction.atomic():
        # Lock the message row so two workers cannot both claim it.
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("bot", "conversation")
            .filter(pk=message_id, direction=Message.Direction.OUT)
            .first()
        )
        if message is None or message.status != Message.Status.QUEUED:
            return Step("skipped")
        now = clock()
        if message.next_attempt_at and message.next_attempt_at > now:
            # Another run set this wait and scheduled its own wake-up: not a second one.
            return Step("waiting")
        if message.bot.paused_at or not message.bot.is_active:
            # Resuming the bot wakes its queue; until then nothing spins on it.
            recheck = now + timedelta(seconds=settings.DELIVERY_PAUSED_RECHECK)
            Message.objects.filter(pk=message.pk).update(next_attempt_at=recheck, updated_at=now)
            return Step("paused")
        wait = _reason_to_wait(message, now)
        if wait is not None:
            seconds, wake_myself = wait
            Message.objects.filter(pk=message.pk).update(
                next_attempt_at=now + timedelta(seconds=seconds), updated_at=now
            )
            return Step("waiting", [(message.pk, seconds)] if wake_myself else [])
        delivery_pace.note_conversation_send(
            message.conversation_id, now.timestamp(), _connector_gap(message)
        )
        message.status = Message.Status.SENDING
        message.attempt_count += 1
        message.next_attempt_at = now + timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT)
        message.save(update_fields=["status", "attempt_count", "next_attempt_at", "updated_at"])
        return message


def _reason_to_wait(message: Message, now: datetime) -> tuple[float, bool] | None:
    """None to go now, else (seconds to wait, whether to schedule its own wake-up).

    A message behind an older one of its conversation is woken by that one when
    it is done (the sweeper covers a lost wake-up), so it schedules nothing.
    """
    bot = message.bot
    older = (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            direction=Message.Direction.OUT,
            status__in=Message.Status.IN_DELIVERY,
            pk__lt=message.pk,
        )
        .order_by("pk")
        .only("next_attempt_at")
        .first()
    )
    if older is not None:  # order per conversation: the older one leaves first
        if older.next_attempt_at and older.next_attempt_at > now:
            return max(_seconds(older.next_attempt_at - now), 1.0), False
        return ORDER_RECHECK_SECONDS, False
    stamp = now.timestamp()
    gap = delivery_pace.conversation_wait(message.conversation_id, stamp, _connector_gap(message))
    if gap > 0:
        return gap, True
    slot = delivery_pace.take_bot_slot(bot.pk, bot.rate_limit_per_minute, stamp)
    if slot > 0:
        # Spread the waiting messages over the next slots instead of waking them all at once.
        width = delivery_pace.slot_seconds(bot.rate_limit_per_minute)
        return slot + random.uniform(0, width), True
    return None


def _connector_gap(message: Message) -> float:
    return connector_class(message.bot.connector).conversation_gap(message.conversation.kind)


def call_connector(message: Message) -> tuple[SendResult, conversions.Converted | None]:
    """Convert the body to what the bot sends (connectors/conversions.py) and send it."""
    connector = connector_for(message.bot)
    try:
        converted = conversions.convert(connector, message.body)
    except conversions.CannotConvert as error:
        # Accepted before the bot's capabilities changed (an agent announcing less).
        return SendResult(Outcome.FAILED, str(error)), None
    except Exception as error:  # a conversion bug must not leave the message `sending`
        logger.exception("Converting message %s failed", message.pk)
        return SendResult(Outcome.FAILED, f"conversion error: {error!r}"), None
    return send_parts(connector, message, converted.bodies), converted


def send_parts(connector: Connector, message: Message, bodies: list[dict]) -> SendResult:
    """Send each body in order; the first keeps the message's id, the others get -2, -3, ….

    After a first part went out, a part that could be retried is `uncertain`
    on a connector that does not dedupe (a retry would send the first again).
    """
    result = SendResult(Outcome.FAILED, "nothing to send")
    for index, body in enumerate(bodies):
        part_id = message.msgid if index == 0 else f"{message.msgid}-{index + 1}"
        try:
            result = connector.send(part_id, message.conversation, body)
        except Exception as error:  # a connector bug must not leave the message `sending`
            logger.exception(
                "Connector %s crashed on message %s", message.bot.connector, message.pk
            )
            outcome = Outcome.RETRY if connector.idempotent else Outcome.UNCERTAIN
            result = SendResult(outcome, f"connector error: {error!r}")
        if result.outcome != Outcome.SENT:
            if index and len(bodies) > 1:
                result.detail = f"part {index + 1} of {len(bodies)}: {result.detail}"
                if result.outcome == Outcome.RETRY and not connector.idempotent:
                    result.outcome = Outcome.UNCERTAIN
            return result
    return result


def record(
    message: Message,
    result: SendResult,
    started_at: datetime,
    duration_ms: int,
    clock: Clock,
    converted: conversions.Converted | None = None,
) -> Step:
    """Write the attempt and move the message on. Only the claim that sent it may."""
    now = clock()
    outcome = result.outcome
    changes: dict = {"updated_at": now, "last_error": result.detail[:2000]}
    if converted is not None:
        changes |= {"sent_as": converted.sent_as, "conversion": converted.note}
    if outcome == Outcome.SENT:
        changes |= {
            "status": Message.Status.SENT,
            "sent_at": now,
            "next_attempt_at": None,
            "last_error": "",
            "upstream_msgid": result.upstream_msgid[:128],
        }
    elif outcome == Outcome.RETRY and message.attempt_count < settings.DELIVERY_MAX_ATTEMPTS:
        delay = backoff_seconds(message.attempt_count, result.retry_after)
        changes |= {
            "status": Message.Status.QUEUED,
            "next_attempt_at": now + timedelta(seconds=delay),
        }
    elif outcome == Outcome.RETRY:
        outcome = Outcome.FAILED
        changes |= {
            "status": Message.Status.FAILED,
            "next_attempt_at": None,
            "last_error": f"gave up after {message.attempt_count} attempts: {result.detail}"[:2000],
        }
    else:  # failed or uncertain: no automatic retry
        changes |= {"status": Message.Status(outcome.value), "next_attempt_at": None}
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            message=message,
            started_at=started_at,
            duration_ms=duration_ms,
            outcome=outcome.value,
            http_status=result.http_status,
            errcode=result.errcode,
            response_text=result.detail[:RESPONSE_TEXT_LIMIT],
        )
        mine = Q(status=Message.Status.SENDING, attempt_count=message.attempt_count)
        if outcome == Outcome.SENT:
            # A lost worker's message may have been taken back meanwhile; it did go out.
            mine |= Q(status__in=[Message.Status.QUEUED, Message.Status.UNCERTAIN])
        updated = Message.objects.filter(mine, pk=message.pk).update(**changes)
        if result.account_problem:
            pause_bot(message.bot_id, result.account_problem, now)
    if updated:
        metrics.message_delivered(message, changes.get("status", ""), now, converted)
    else:
        logger.info(
            "Message %s was taken back while sending; its outcome is only logged.", message.pk
        )
    status = changes.get("status", "")
    if status == Message.Status.QUEUED:
        return Step("retry", [(message.pk, _seconds(changes["next_attempt_at"] - now))])
    return Step(str(status), next_in_conversation(message, now))


def next_in_conversation(message: Message, now: datetime) -> list[tuple[int, float]]:
    """The conversation's next waiting message may go now that this one is done."""
    following = (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            direction=Message.Direction.OUT,
            status=Message.Status.QUEUED,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if following is None:
        return []
    Message.objects.filter(pk=following, next_attempt_at__gt=now).update(next_attempt_at=now)
    return [(following, 0.0)]


def backoff_seconds(attempts_done: int, retry_after: float | None = None) -> float:
    """Exponential backoff with ±20 % jitter: base, 2×base, 4×base, …"""
    delay = settings.DELIVERY_RETRY_BASE_DELAY * 2 ** max(attempts_done - 1, 0)
    delay *= random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0.0)


def pause_bot(bot_id: int, reason: str, now: datetime) -> None:
    updated = Bot.objects.filter(pk=bot_id, paused_at__isnull=True).update(
        paused_at=now, paused_reason=reason[:2000]
    )
    if updated:
        logger.warning("Bot %s paused: %s", bot_id, reason)


def _seconds(delta: timedelta) -> float:
    return max(delta.total_seconds(), 0.0)
