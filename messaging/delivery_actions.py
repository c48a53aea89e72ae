"""What an operator can do about a message's delivery, and about a paused bot.

Each action is a compare-and-set on the status it starts from (a message that
moved on meanwhile is left alone), is recorded in the audit log, and returns
how many rows it changed. The admin calls these; so can a command or a view.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_noop

from audit.services import record_action
from botadmin import reasons
from botadmin.reasons import Reason
from connectors.base import ConnectorError
from connectors.registry import connector_for
from conversations.models import Bot
from conversations.services import refresh_connector_state

from .delivery import next_in_conversation
from .models import Message
from .outbox import enqueue_delivery

logger = logging.getLogger(__name__)

# Waking more than this many messages at once is left to the sweeper.
WAKE_LIMIT = 1000


def retry_now(message: Message, actor) -> bool:
    """Queue a failed or uncertain message again, with a fresh attempt budget."""
    with transaction.atomic():
        changed = Message.objects.filter(
            pk=message.pk, status__in=Message.Status.UNDELIVERED
        ).update(
            status=Message.Status.QUEUED,
            attempt_count=0,
            next_attempt_at=None,
            updated_at=timezone.now(),
        )
        if changed:
            record_action(
                actor,
                "message.retry",
                bot=message.bot,
                target=message,
                summary=f"Retry {message.msgid} (was {message.status}).",
                details={"previous_status": message.status},
            )
            enqueue_delivery(message.pk)
    return bool(changed)


def mark_sent(message: Message, actor) -> bool:
    """The operator checked the chat: the uncertain message did arrive."""
    now = timezone.now()
    with transaction.atomic():
        changed = Message.objects.filter(pk=message.pk, status=Message.Status.UNCERTAIN).update(
            status=Message.Status.SENT, sent_at=now, next_attempt_at=None, updated_at=now
        )
        if changed:
            record_action(
                actor,
                "message.mark_sent",
                bot=message.bot,
                target=message,
                summary=f"Marked {message.msgid} as sent.",
            )
            wake_next_in_conversation(message)
    return bool(changed)


def cancel(message: Message, actor) -> bool:
    """Stop a message that has not left yet."""
    with transaction.atomic():
        changed = Message.objects.filter(
            pk=message.pk, status__in=Message.Status.CANCELLABLE
        ).update(status=Message.Status.CANCELLED, next_attempt_at=None, updated_at=timezone.now())
        if changed:
            record_action(
                actor,
                "message.cancel",
                bot=message.bot,
                target=message,
                summary=f"Cancelled {message.msgid} (was {message.status}).",
                details={"previous_status": message.status},
            )
            wake_next_in_conversation(message)
    return bool(changed)


def stop(messages: QuerySet, status: str) -> tuple[int, int]:
    """Stop these outbound messages: `cancelled`, or `scheduled` without a time (held
    until something gives them one, as an announcement's resume does). Returns how many
    were stopped now and how many are in flight.

    Those not handed to a connector yet take `status` now. Those a worker holds are
    marked (`stop_requested`): one still waiting in the worker's batch is not sent, and
    one whose attempt ends without delivering it is not retried (messaging/delivery.py);
    an attempt already on the wire is recorded as what happened (sent, uncertain…).
    Call inside the caller's transaction.
    """
    now = timezone.now()
    _lock(messages, Message.Status.UNFINISHED)
    in_flight = messages.filter(status=Message.Status.SENDING).update(stop_requested=status)
    held = {"scheduled_at": None} if status == Message.Status.SCHEDULED else {}
    stopped = messages.filter(status__in=Message.Status.CANCELLABLE).update(
        status=status, updated_at=now, **held
    )
    return stopped, in_flight


def release(messages: QuerySet) -> int:
    """Undo `stop(messages, scheduled)`: those held are due now (the scheduler's tick queues
    them) and those in flight may be tried again; returns how many were held."""
    now = timezone.now()
    _lock(messages, (Message.Status.SCHEDULED, Message.Status.SENDING))
    messages.filter(status=Message.Status.SENDING, stop_requested=Message.Status.SCHEDULED).update(
        stop_requested=""
    )
    return messages.filter(status=Message.Status.SCHEDULED, scheduled_at__isnull=True).update(
        scheduled_at=now, updated_at=now
    )


def _lock(messages: QuerySet, statuses) -> None:
    """Intent: hold the rows `stop` or `release` changes before reading their status, in
    id order. A worker recording an attempt locks its batch's rows in id order too and
    reads their mark (`delivery.requested_stops`): either it sees the mark, or this
    sees the message it moved on; and neither waits for the other in a circle."""
    list(
        messages.filter(status__in=statuses)
        .select_for_update(of=("self",))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def wake_next_in_conversation(message: Message) -> None:
    """The conversation's next message no longer waits behind this one."""
    following = next_in_conversation(message)
    if following is not None:
        enqueue_delivery(following)


def resume_bot(bot: Bot, actor) -> int:
    """Clear a bot's pause and wake its waiting messages; returns how many wait."""
    now = timezone.now()
    with transaction.atomic():
        changed = Bot.objects.filter(pk=bot.pk, paused_at__isnull=False).update(
            paused_at=None, paused_reason="", updated_at=now
        )
        if not changed:
            return 0
        record_action(
            actor,
            "bot.resume_sending",
            bot=bot,
            target=bot,
            summary=f"Resumed sending (paused because: {bot.paused_reason}).",
            details={"paused_at": bot.paused_at.isoformat() if bot.paused_at else None},
        )
        waiting = Message.objects.filter(
            bot=bot, direction=Message.Direction.OUT, status=Message.Status.QUEUED
        )
        waiting.update(next_attempt_at=now)
        ids = list(waiting.order_by("pk").values_list("pk", flat=True)[:WAKE_LIMIT])
        for message_id in ids:
            enqueue_delivery(message_id)
    return len(ids)


def check_connection(bot: Bot, actor) -> tuple[bool, str]:
    """Ask the bot's connector whether its agent or robot keys answer.

    The verdict and a classified reason (a Reason where the connector worded it: show
    it with `reasons.translate`), shown to the operator and audited in English;
    never the answer's body (ConnectorError keeps that out of its text)."""
    try:
        ok, text = True, connector_for(bot).check()
        if learned := refresh_connector_state(bot):
            text = Reason(gettext_noop("%(checked)s; %(learned)s"), checked=text, learned=learned)
    except ConnectorError as error:
        # The classification only: what the other side answered stays in the server's log.
        ok, text = False, reasons.of(error)
        logger.info("Connection test of bot %s failed: %s %s", bot.pk, text, error.detail)
    except NotImplementedError:
        ok, text = False, Reason(gettext_noop("this connector cannot test its connection"))
    record_action(
        actor,
        "bot.check_connection",
        bot=bot,
        target=bot,
        summary=("OK: " if ok else "Failed: ") + text[:500],
        details={"ok": ok},
    )
    return ok, text
