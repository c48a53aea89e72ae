"""Accepting outbound messages: the one path the API, the console and announcements share.

`accept_outbound` validates a body, stores the message (queued, or scheduled
when `send_at` is given) and wakes the delivery workers after the commit.
`accept_outbound_bulk` does the same for many conversations at once (the
announcement fan-out), with the same validation and the same row shape.

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
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from botadmin import logging as botadmin_logging
from botadmin import metrics
from botadmin.errors import Err
from conversations.models import Bot, Conversation

from .media_fetch import add_outbound_media, outbound_media_reference
from .models import Message
from .outbox import enqueue_delivery
from .validation import search_text, validate_outbound

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def _outbound_message(
    *, bot: Bot, conversation: Conversation, body: dict, source: str, send_at, **fields
) -> Message:
    """An unsaved outbound row for an already validated body: queued, or scheduled for `send_at`."""
    scheduled = send_at is not None and send_at > timezone.now()
    creator = fields.get("created_by")
    if creator is not None:  # its name stays readable after the user is deleted
        fields["created_by_label"] = creator.get_username()[:150]
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


def _check_reply_to(conversation: Conversation, upstream_msgid: str) -> None:
    """A reply answers a message this conversation received."""
    received = Message.objects.filter(
        bot_id=conversation.bot_id,
        conversation=conversation,
        direction=Message.Direction.IN,
        upstream_msgid=upstream_msgid,
    ).exists()
    if not received:
        raise Err.FIELD_INVALID.error(
            f"invalid field: reply_to: no message {upstream_msgid[:64]!r} was received "
            "in this conversation"
        )


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
    _check_active(bot)
    if conversation is None or conversation.bot_id != bot.pk:
        conversation = Conversation.objects.filter(bot=bot, conversation_id=conversation_id).first()
    if conversation is None:
        raise Err.UNKNOWN_CONVERSATION.error(
            f"unknown conversation_id: {conversation_id} is not a user or group of this bot"
        )
    body = validate_outbound(bot, body)
    if "reply_to" in body:
        _check_reply_to(conversation, body["reply_to"])
    message = _outbound_message(
        bot=bot,
        conversation=conversation,
        body=body,
        source=source,
        send_at=send_at,
        created_by=created_by,
    )
    if not idempotency_key:
        if outbound_media_reference(message) is None:
            # One INSERT is atomic by itself: a transaction around it would add two
            # database round trips (BEGIN, COMMIT) to every /api/send.
            return _store(message)
        with transaction.atomic():  # the message and its media row, or neither
            return _store(message)
    request_hash = _request_hash(conversation_id, body, send_at)
    message.idempotency_key, message.request_hash = idempotency_key, request_hash
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
                    return _store(message)
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
    if "reply_to" in body:  # one message answered in many conversations: none received it
        raise Err.FIELD_INVALID.error("invalid field: reply_to: not for a message to many")
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
        add_outbound_media(created)  # the archive keeps what went out
        for message in created:
            metrics.message_accepted(message)
            if message.status == Message.Status.QUEUED:
                enqueue_delivery(message.pk)
    return created


def _store(message: Message) -> Message:
    message.save(force_insert=True)
    add_outbound_media([message])  # the archive keeps what went out
    message.replayed = False
    # A text message is committed by its INSERT alone, so nothing after it may fail the
    # answer: metrics hooks never raise, and the wake-up is published by a thread of its
    # own after the commit (botadmin/wakeups.py).
    botadmin_logging.bind(bot=message.bot.name, message_id=message.msgid)
    metrics.message_accepted(message)
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
