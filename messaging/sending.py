"""Accepting outbound messages: the one path the API, the console and announcements share.

`accept_outbound` validates a body, stores the message (queued, or scheduled
when `send_at` is given) and wakes the delivery workers after the commit.
`accept_outbound_bulk` does the same for many conversations at once (the
announcement fan-out), with the same validation and the same row shape.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from botadmin.errors import Err
from conversations.models import Bot, Conversation

from .models import Message
from .outbox import enqueue_delivery
from .validation import search_text, validate_outbound


def _outbound_message(
    *, bot: Bot, conversation: Conversation, body: dict, source: str, send_at, **fields
) -> Message:
    """An unsaved outbound row for an already validated body: queued, or scheduled for `send_at`."""
    scheduled = send_at is not None and send_at > timezone.now()
    return Message(
        bot=bot,
        conversation=conversation,
        direction=Message.Direction.OUT,
        msgtype=body["msgtype"],
        body=body,
        search_text=search_text(body),
        status=Message.Status.SCHEDULED if scheduled else Message.Status.QUEUED,
        source=source,
        scheduled_at=send_at if scheduled else None,
        **fields,
    )


def _check_active(bot: Bot) -> None:
    if not bot.is_active:
        raise Err.BOT_INACTIVE.error()


def accept_outbound(
    *,
    bot: Bot,
    conversation_id: str,
    body: dict,
    source: str,
    created_by=None,
    idempotency_key: str = "",
    send_at: datetime | None = None,
) -> Message:
    """Store one outbound message and enqueue it. Raises ApiError on bad input."""
    _check_active(bot)
    conversation = Conversation.objects.filter(bot=bot, conversation_id=conversation_id).first()
    if conversation is None:
        raise Err.UNKNOWN_CONVERSATION.error(f"unknown conversation_id: {conversation_id}")
    body = validate_outbound(bot, body)
    message = _outbound_message(
        bot=bot,
        conversation=conversation,
        body=body,
        source=source,
        send_at=send_at,
        created_by=created_by,
        idempotency_key=idempotency_key,
    )
    with transaction.atomic():
        message.save()
        if message.status == Message.Status.QUEUED:
            enqueue_delivery(message.pk)
    return message


def accept_outbound_bulk(
    *,
    bot: Bot,
    conversations: Iterable[Conversation],
    body: dict,
    source: str,
    created_by=None,
    send_at: datetime | None = None,
    held: bool = False,
    **fields,
) -> list[Message]:
    """Store one outbound message per conversation in one INSERT and enqueue the queued ones.

    `held` stores them `scheduled` without a time: they wait until something
    (resume) gives them one. Extra `fields` (e.g. announcement_run) go on
    every row. Call inside the caller's transaction; enqueueing happens after
    its commit.
    """
    _check_active(bot)
    body = validate_outbound(bot, body)
    rows = []
    for conversation in conversations:
        message = _outbound_message(
            bot=bot,
            conversation=conversation,
            body=body,
            source=source,
            send_at=send_at,
            created_by=created_by,
            **fields,
        )
        if held:
            message.status, message.scheduled_at = Message.Status.SCHEDULED, None
        rows.append(message)
    with transaction.atomic():
        created = Message.objects.bulk_create(rows)
        for message in created:
            if message.status == Message.Status.QUEUED:
                enqueue_delivery(message.pk)
    return created
