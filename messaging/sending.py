"""Accepting outbound messages: the one path the API, the console and announcements share.

`accept_outbound` validates a body, stores the message (queued, or scheduled
when `send_at` is given) and wakes the delivery workers after the commit.

Idempotency: a caller may give a key. The same key for the same bot within
IDEMPOTENCY_WINDOW returns the message stored the first time (nothing new is
stored); the same key with a different request is refused. The database
enforces it with the conditional unique constraint
`message_idempotency_key_unique` (bot, idempotency_key), so concurrent
requests with one key store exactly one row whatever the web process. A key
older than the window is released by clearing it on its old message, in the
same transaction that stores the new one; the old message keeps its
`request_hash`.
"""

import hashlib
import json
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from botadmin.errors import Err
from conversations.models import Bot, Conversation

from .models import Message
from .outbox import enqueue_delivery
from .validation import search_text, validate_outbound

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def accept_outbound(
    *,
    bot: Bot,
    conversation_id: str,
    body: dict,
    source: str,
    created_by=None,
    idempotency_key: str = "",
    send_at: datetime | None = None,
    conversation: Conversation | None = None,
) -> Message:
    """Store one outbound message and enqueue it. Raises ApiError on bad input.

    With an idempotency key seen before, returns the first message with
    `replayed = True` set on it. A caller that already loaded the
    conversation passes it to save a query.
    """
    if not bot.is_active:
        raise Err.BOT_INACTIVE.error()
    if conversation is None or conversation.bot_id != bot.pk:
        conversation = Conversation.objects.filter(bot=bot, conversation_id=conversation_id).first()
    if conversation is None:
        raise Err.UNKNOWN_CONVERSATION.error(
            f"unknown conversation_id: {conversation_id} is not a user or group of this bot"
        )
    body = validate_outbound(bot, body)
    scheduled = send_at is not None and send_at > timezone.now()
    fields = {
        "bot": bot,
        "conversation": conversation,
        "direction": Message.Direction.OUT,
        "msgtype": body["msgtype"],
        "body": body,
        "search_text": search_text(body),
        "status": Message.Status.SCHEDULED if scheduled else Message.Status.QUEUED,
        "source": source,
        "created_by": created_by,
        "scheduled_at": send_at if scheduled else None,
    }
    if not idempotency_key:
        with transaction.atomic():
            return _store(fields)
    request_hash = _request_hash(conversation_id, body, send_at)
    fields.update(idempotency_key=idempotency_key, request_hash=request_hash)
    with transaction.atomic():
        Message.objects.filter(
            bot=bot,
            idempotency_key=idempotency_key,
            created_at__lt=timezone.now() - IDEMPOTENCY_WINDOW,
        ).update(idempotency_key="")
        first = Message.objects.filter(bot=bot, idempotency_key=idempotency_key).first()
        if first is None:
            try:
                with transaction.atomic():
                    return _store(fields)
            except IntegrityError:
                # A concurrent request with the same key committed first.
                first = Message.objects.filter(bot=bot, idempotency_key=idempotency_key).first()
                if first is None:
                    raise
    if first.request_hash != request_hash:
        raise Err.IDEMPOTENCY_CONFLICT.error(
            "Idempotency-Key reused with a different request: "
            f"it was first used for message {first.msgid}"
        )
    first.replayed = True
    return first


def _store(fields: dict) -> Message:
    message = Message.objects.create(**fields)
    message.replayed = False
    if message.status == Message.Status.QUEUED:
        enqueue_delivery(message.pk)
    return message


def _request_hash(conversation_id: str, body: dict, send_at: datetime | None) -> str:
    request = {
        "conversation_id": conversation_id,
        "body": body,
        "send_at": send_at.isoformat() if send_at else None,
    }
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
