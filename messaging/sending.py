"""Accepting outbound messages: the one path the API, the console and announcements share.

`accept_outbound` validates a body, stores the message (queued, or scheduled
when `send_at` is given) and wakes the delivery workers after the commit.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from botadmin.errors import Err
from conversations.models import Bot, Conversation

from .models import Message
from .outbox import enqueue_delivery
from .validation import search_text, validate_outbound


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
    if not bot.is_active:
        raise Err.BOT_INACTIVE.error()
    conversation = Conversation.objects.filter(bot=bot, conversation_id=conversation_id).first()
    if conversation is None:
        raise Err.UNKNOWN_CONVERSATION.error(f"unknown conversation_id: {conversation_id}")
    body = validate_outbound(bot, body)
    msgtype = body["msgtype"]
    scheduled = send_at is not None and send_at > timezone.now()
    with transaction.atomic():
        message = Message.objects.create(
            bot=bot,
            conversation=conversation,
            direction=Message.Direction.OUT,
            msgtype=msgtype,
            body=body,
            search_text=search_text(body),
            status=Message.Status.SCHEDULED if scheduled else Message.Status.QUEUED,
            source=source,
            created_by=created_by,
            idempotency_key=idempotency_key,
            scheduled_at=send_at if scheduled else None,
        )
        if not scheduled:
            enqueue_delivery(message.pk)
    return message
