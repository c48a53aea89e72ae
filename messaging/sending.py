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
requests with one key store exactly one row whatever the web process. "The same
request" is the same conversation, validated body and `send_at` instant (in UTC: a retry
that writes the time in another offset asks for the same thing; docs/api.md), and a replay
answers the `send_at` the first answer gave, as it gave it (`send_at_answered`). A key
older than the window is released by clearing it on its old message, in the
same transaction that stores the new one; the old message keeps its
`request_hash`.

A conversation whose deletion was asked for takes no new message (7000106): refused
before anything is stored, or, when the deletion was asked for while the message was
being stored, withdrawn once it is committed (`_accepted`). So a message the caller was
told is accepted was stored before the deletion began, and goes with the conversation's
history; none is left pointing at a conversation that is gone (the foreign key stops the
conversation's delete until its messages are gone: deletions/services.py).
"""

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from botadmin import logging as botadmin_logging
from botadmin import metrics
from botadmin.errors import ApiError, Err, errmsg_value
from conversations.deletion_marks import deleted_at, deletion_started
from conversations.models import Bot, Conversation

from .media_references import add_outbound_media, outbound_media_reference
from .models import Message
from .outbox import enqueue_delivery
from .send_times import answered_send_at
from .validation import search_text, validate_outbound

logger = logging.getLogger(__name__)

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
            f"invalid field: reply_to: no message '{errmsg_value(upstream_msgid)}' was received "
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
        raise _unknown_conversation(bot, conversation_id)
    if conversation.deletion_requested_at is not None:
        raise _being_deleted(conversation)
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
            _store(message)
        else:
            with transaction.atomic():  # the message and its media row, or neither
                _store(message)
        return _accepted(message)
    request_hash = _request_hash(conversation_id, body, _instant(send_at))
    message.idempotency_key, message.request_hash = idempotency_key, request_hash
    message.send_at_answered = answered_send_at(message)  # what a replay answers
    stored_as = (idempotency_key, _as_stored_before_quotes_were_read(idempotency_key))
    with transaction.atomic():
        Message.objects.filter(
            bot=bot,
            idempotency_key__in=stored_as,
            created_at__lt=timezone.now() - IDEMPOTENCY_WINDOW,
        ).update(idempotency_key="")
        first = _first_with_key(bot, stored_as)
        if first is None:
            try:
                with transaction.atomic():
                    _store(message)
            except IntegrityError:
                # A concurrent request with the same key committed first.
                first = _first_with_key(bot, stored_as)
                if first is None:
                    raise
    if first is None:
        return _accepted(message)
    if first.request_hash not in (
        request_hash,
        _hash_before_instants(conversation_id, body, send_at),
    ):
        raise Err.IDEMPOTENCY_CONFLICT.error(
            "Idempotency-Key reused with a different request: "
            f"it was first used for message {first.msgid}"
        )
    first.replayed = True
    return first


def _as_stored_before_quotes_were_read(key: str) -> str:
    """The key as releases before commit 417e1a5 stored it when the header quoted it: the
    header as written (`"abc"`, its quotes and escapes kept). So a retry across the
    upgrade, within IDEMPOTENCY_WINDOW, finds the message its first try stored. Not
    needed once every such key is older than the window (docs/upgrading.md)."""
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _first_with_key(bot: Bot, stored_as: tuple[str, str]) -> Message | None:
    """The message stored under the key (in either form: one query on the unique index);
    the earlier when both forms have one (a bare key since the upgrade, a quoted one
    before)."""
    return Message.objects.filter(bot=bot, idempotency_key__in=stored_as).order_by("pk").first()


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


def _store(message: Message) -> None:
    message.save(force_insert=True)
    add_outbound_media([message])  # the archive keeps what went out
    message.replayed = False


def _accepted(message: Message) -> Message:
    """The stored message, once committed: counted and its worker woken, unless its
    conversation's deletion was asked for while it was being stored.

    The conversation was checked before (`deletion_requested_at`, read with the bot), but
    a deletion asked for between that read and the commit would delete the message a
    moment later, after its caller was told it was accepted. Asked again now, after the
    commit: not being deleted means the message was stored before the deletion was asked
    for, so the deletion finds it with the rest of the conversation's history; being
    deleted, it is withdrawn and the caller told why (7000106), as if it had come later."""
    try:
        started = deletion_started(message.conversation_id)
    except DatabaseError:
        # The message is committed, so nothing after it may fail the answer: a lost
        # connection now must not make the caller send it again. The deletion, if there
        # is one, deletes it with the rest.
        logger.warning("Could not check whether the conversation of %s is deleted", message.msgid)
        started = False
    if started:
        _withdraw(message)
        raise _being_deleted(message.conversation)
    # Nothing from here on may fail the answer either: metrics hooks never raise, and the
    # wake-up is published by a thread of its own after the commit (botadmin/wakeups.py).
    botadmin_logging.bind(bot=message.bot.name, message_id=message.msgid)
    metrics.message_accepted(message)
    if message.status == Message.Status.QUEUED:
        enqueue_delivery(message.pk)
    return message


def _withdraw(message: Message) -> None:
    """Delete a message just stored, with its media row (its image not fetched yet, or an
    upload's file, which the upload keeps)."""
    Message.objects.filter(pk=message.pk).delete()


def _unknown_conversation(bot: Bot, conversation_id: str) -> ApiError:
    """7000101 for an id the bot has no conversation of; 7000106 for one it had, deleted."""
    when = deleted_at(bot, conversation_id)
    if when is not None:
        return Err.CONVERSATION_DELETED.error(
            f"conversation deleted: {errmsg_value(conversation_id)} was deleted at {when.isoformat()}; "
            "nothing is sent to it"
        )
    return Err.UNKNOWN_CONVERSATION.error(
        f"unknown conversation_id: {errmsg_value(conversation_id)} is not a user or group of this bot"
    )


def _being_deleted(conversation: Conversation) -> ApiError:
    return Err.CONVERSATION_DELETED.error(
        f"conversation deleted: {errmsg_value(conversation.conversation_id)} is being deleted; "
        "nothing is sent to it"
    )


def _instant(send_at: datetime | None) -> str | None:
    """`send_at` as the request's fingerprint takes it: the instant, in UTC. A client that
    rebuilds its retry may write the same time in another offset (`…T10:00:00+08:00`,
    `…T02:00:00Z`, Unix seconds): the same request, answered as the first was."""
    return send_at.astimezone(UTC).isoformat() if send_at else None


def _hash_before_instants(conversation_id: str, body: dict, send_at: datetime | None) -> str:
    """The fingerprint as releases before instants were fingerprinted took it: `send_at`
    in the offset it was written in. So a retry across the upgrade, within
    IDEMPOTENCY_WINDOW, of a request written with another offset than UTC still matches
    its first try (docs/upgrading.md). Not needed once every such key is older than the
    window."""
    return _request_hash(conversation_id, body, send_at.isoformat() if send_at else None)


def _request_hash(conversation_id: str, body: dict, send_at: str | None) -> str:
    """The fingerprint of what a request asks for: who gets what, when. The body is the
    validated one (`validate_outbound`: unknown fields dropped, key order irrelevant)."""
    request = {"conversation_id": conversation_id, "body": body, "send_at": send_at}
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
