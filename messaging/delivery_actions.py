"""What an operator can do about a message's delivery.

Each action is a compare-and-set on the status it starts from (a message that
moved on meanwhile is left alone), is recorded in the audit log, and returns
how many rows it changed. The admin calls these; so can a command or a view.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import record_action
from conversations.models import Bot

from .delivery_claim import next_in_conversation
from .models import Message
from .outbox import enqueue_delivery
from .scheduled import wake_release

# Waking more than this many messages at once is left to the sweeper.
WAKE_LIMIT = 1000


def retry_now(message: Message, actor) -> bool:
    """Queue a failed or uncertain message again, with a fresh attempt budget."""
    with transaction.atomic():
        changed = requeue(Message.objects.filter(pk=message.pk))
        if changed:
            record_action(
                actor,
                "message.retry",
                bot=message.bot,
                target=message,
                summary=f"Retry {message.msgid} (was {message.status}).",
                details={"previous_status": message.status},
            )
    return bool(changed)


def requeue(messages: QuerySet) -> int:
    """Queue those of these messages that are failed or uncertain again (a compare-and-set
    on the status) and wake delivery for them; returns how many. Call inside the caller's
    transaction, which records why.

    Each starts over: a fresh attempt budget, and no last error, as no attempt of the
    new budget has failed yet (each attempt's answer stays in its row, the trace). A
    message keeping the error of the budget it used up would read "failed" beside
    "queued" on every page and in the status API until its next attempt."""
    undelivered = messages.filter(status__in=Message.Status.UNDELIVERED)
    # Intent: hold the rows in id order, as `stop` and a recording worker do, so that
    # what is woken is what changed.
    ids = list(
        undelivered.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True)
    )
    changed = Message.objects.filter(pk__in=ids, status__in=Message.Status.UNDELIVERED).update(
        status=Message.Status.QUEUED,
        attempt_count=0,
        next_attempt_at=None,
        last_error="",
        updated_at=timezone.now(),
    )
    for message_id in ids:
        enqueue_delivery(message_id)
    return changed


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
    """Undo `stop(messages, scheduled)`: those held are due now (the release task, woken
    after the commit, queues them) and those in flight may be tried again; returns how
    many were held."""
    now = timezone.now()
    _lock(messages, (Message.Status.SCHEDULED, Message.Status.SENDING))
    messages.filter(status=Message.Status.SENDING, stop_requested=Message.Status.SCHEDULED).update(
        stop_requested=""
    )
    held = messages.filter(status=Message.Status.SCHEDULED, scheduled_at__isnull=True).update(
        scheduled_at=now, updated_at=now
    )
    if held:
        wake_release()
    return held


def _lock(messages: QuerySet, statuses) -> None:
    """Intent: hold the rows `stop` or `release` changes before reading their status, in
    id order. A worker recording an attempt locks its batch's rows in id order too and
    reads their mark (`delivery_outcomes.requested_stops`): either it sees the mark, or this
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


def waiting_for(bot: Bot):
    """The bot's messages that wait to be sent (while it is paused: until it resumes)."""
    return Message.objects.filter(
        bot=bot, direction=Message.Direction.OUT, status=Message.Status.QUEUED
    )


def wake_resumed_bot(bot: Bot, now) -> int:
    """A bot's pause was cleared (conversations.pauses.resume_bot, through
    `conversations.signals.bot_resumed`): its queued messages are due now, and up to
    WAKE_LIMIT are woken; returns how many wait."""
    waiting = waiting_for(bot)
    waiting.update(next_attempt_at=now)
    ids = list(waiting.order_by("pk").values_list("pk", flat=True)[:WAKE_LIMIT])
    for message_id in ids:
        enqueue_delivery(message_id)
    return len(ids)
