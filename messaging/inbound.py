"""Recording what agents report (bridge spec section 3): parse, validate, store, queue forwarding.

`parse_callback` turns the raw request body into a validated `Inbound` or
raises ApiError with a WeCom-style errcode (in two steps: `read_callback_object`
reads the JSON object, in which /api/callback finds the secret first, and
`validate_callback` judges its fields); `record_inbound` stores it, marked
`forward_pending` (the conversation it was seen in is recorded by
`conversations.activity`), and once that commits sends
`signals.inbound_message_stored`, on which the forwarding app creates its webhook
deliveries. The pydantic models describe the body for the OpenAPI document
and validate each known msgtype's object; unknown msgtypes are kept raw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Literal

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator
from pydantic import ValidationError as PydanticValidationError

from botadmin import metrics
from botadmin.api import json_body, not_an_object
from botadmin.errors import Err
from conversations.activity import record_seen_in_message
from conversations.models import Bot, Conversation

from .media_references import add_inbound_media
from .models import Message
from .signals import inbound_message_stored
from .validation import check_strings, search_text

MAX_BODY_BYTES = 256 * 1024
MSGTYPE_MAX_LENGTH = Message._meta.get_field("msgtype").max_length
ID_MAX_LENGTH = 255
UPSTREAM_MSGID_MAX_LENGTH = Message._meta.get_field("upstream_msgid").max_length
NAME_MAX_LENGTH = 255


class _Object(BaseModel):
    model_config = ConfigDict(extra="allow")


class TextObject(_Object):
    content: StrictStr


class ImageObject(_Object):
    cdn_type: StrictStr
    cdn: StrictStr


class MiniprogramObject(_Object):
    appicon: StrictStr
    appid: StrictStr
    appname: StrictStr
    page_path: StrictStr
    title: StrictStr


class LinkObject(_Object):
    title: StrictStr
    url: StrictStr


OBJECT_MODELS: dict[str, type[_Object]] = {
    "text": TextObject,
    "image": ImageObject,
    "miniprogram": MiniprogramObject,
    "link": LinkObject,
}


# 9999-12-31 23:59:59 UTC, the last second Python's datetime holds (milliseconds
# since 1970 are past it, and refused rather than read as a time 50,000 years away).
LAST_TIMESTAMP = 253_402_300_799


class CallbackEnvelope(BaseModel):
    """The fields every callback carries, whatever its msgtype."""

    model_config = ConfigDict(extra="allow")

    secret: StrictStr | None = Field(None, description="The bot's API secret (or ?secret=).")
    msgtype: StrictStr = Field(min_length=1, max_length=MSGTYPE_MAX_LENGTH)
    conversation_id: StrictStr = Field(min_length=1, max_length=ID_MAX_LENGTH)
    sender: StrictStr = Field(max_length=ID_MAX_LENGTH)
    msgid: StrictStr | int | None = Field(
        None, description="The message's id inside WeCom; repeats are dropped."
    )
    timestamp: int | float | None = Field(
        None, ge=0, le=LAST_TIMESTAMP, description="Unix seconds when sent."
    )
    conversation_type: Literal["user", "group"] | None = None
    conversation_name: StrictStr | None = None
    sender_name: StrictStr | None = None

    @field_validator("msgid", "timestamp", mode="before")
    @classmethod
    def _not_a_boolean(cls, value):
        # pydantic reads true as 1: the msgid "True" (every later one a repeat), 1970 as the time.
        if isinstance(value, bool):
            raise ValueError("a boolean is not a msgid or timestamp")
        return value


class CallbackBody(CallbackEnvelope):
    """POST /api/callback: the envelope plus one object named after the msgtype."""

    text: TextObject | None = None
    image: ImageObject | None = None
    miniprogram: MiniprogramObject | None = None
    link: LinkObject | None = None


@dataclass
class Inbound:
    envelope: CallbackEnvelope
    body: dict  # what the agent sent, without the secret

    @property
    def upstream_msgid(self) -> str:
        msgid = self.envelope.msgid
        return "" if msgid is None else str(msgid)


def parse_callback(raw: bytes | str) -> Inbound:
    """Validate a raw callback body (bytes, UTF-8; or the text of one); raise ApiError with
    a fitting errcode."""
    return validate_callback(read_callback_object(raw))


def read_callback_object(raw: bytes | str) -> dict:
    """A raw callback body as the JSON object it must be, not validated yet: where
    /api/callback looks for the secret before it judges anything else. Raises ApiError
    for a body too large, not JSON, or JSON that is not an object."""
    if len(raw) > MAX_BODY_BYTES:
        raise Err.BODY_TOO_LARGE.error(f"request body larger than {MAX_BODY_BYTES} bytes")
    data = json_body(raw)
    if not isinstance(data, dict):
        raise not_an_object()
    return data


def validate_callback(data: dict) -> Inbound:
    """A callback body's object validated field by field; raises ApiError (40035) naming
    what is wrong."""
    check_strings(data, "body", Err.INVALID_PARAMETER)
    for name in ("conversation_id", "msgtype"):
        # Only spaces name no conversation and no msgtype: refused as an empty one is.
        value = data.get(name)
        if isinstance(value, str) and not value.strip():
            raise Err.INVALID_PARAMETER.error(f"invalid parameter: {name} is empty")
    envelope = _validate(CallbackEnvelope, data, "")
    model = OBJECT_MODELS.get(envelope.msgtype)
    if model is not None:
        if envelope.msgtype not in data:
            raise Err.INVALID_PARAMETER.error(f"invalid parameter: {envelope.msgtype}: missing")
        _validate(model, data[envelope.msgtype], envelope.msgtype + ".")
    inbound = Inbound(envelope=envelope, body={k: v for k, v in data.items() if k != "secret"})
    if len(inbound.upstream_msgid) > UPSTREAM_MSGID_MAX_LENGTH:
        raise Err.INVALID_PARAMETER.error("invalid parameter: msgid: too long")
    return inbound


def _validate(model: type[BaseModel], data, prefix: str):
    try:
        return model.model_validate(data)
    except PydanticValidationError as error:
        details = "; ".join(
            f"{prefix}{'.'.join(str(part) for part in err['loc']) or 'body'}: {err['msg']}"
            for err in error.errors()[:5]
        )
        raise Err.INVALID_PARAMETER.error(f"invalid parameter: {details}") from None


def record_inbound(
    bot: Bot,
    inbound: Inbound,
    conversation: Conversation | None = None,
    more_media: list[dict] | None = None,
) -> Message | None:
    """Store the message for forwarding; None when its msgid was already stored.

    Its media rows (and `more_media`, references an AI bot's `mixed` message's images
    name) commit with it, so forwarding never sees the message without its pending media.

    Duplicates are settled by the unique constraint on (bot, upstream msgid),
    not by looking first, so concurrent repeats store exactly one row. Reads
    happen before the transaction so the write lock (all of SQLite) is held
    briefly. A caller that found the conversation already passes it.
    """
    envelope = inbound.envelope
    now = timezone.now()
    sent_at = (
        datetime.fromtimestamp(envelope.timestamp, tz=UTC)
        if envelope.timestamp is not None
        else None
    )
    if conversation is None or conversation.conversation_id != envelope.conversation_id:
        conversation = Conversation.objects.filter(
            bot=bot, conversation_id=envelope.conversation_id
        ).first()
    try:
        # No savepoint around the insert: a repeated msgid undoes the whole
        # transaction, which has stored nothing that should outlive it.
        with transaction.atomic():
            conversation = record_seen_in_message(
                bot,
                envelope.conversation_id,
                at=now,
                kind=envelope.conversation_type or "",
                name=envelope.conversation_name or "",
                sender=envelope.sender or "",
                known=conversation,
            )
            message = Message(
                bot=bot,
                conversation=conversation,
                direction=Message.Direction.IN,
                msgtype=envelope.msgtype,
                body=inbound.body,
                search_text=search_text(inbound.body),
                sender_id=envelope.sender,
                sender_name=(envelope.sender_name or "")[:NAME_MAX_LENGTH],
                upstream_msgid=inbound.upstream_msgid,
                status=Message.Status.RECEIVED,
                source=Message.Source.AGENT,
                sent_at=sent_at,
                forward_pending=True,
            )
            message.save(force_insert=True)
            add_inbound_media(message, more_media)  # fetched by a worker once this commits
            transaction.on_commit(partial(_send_inbound_message_stored, [message.pk]))
        metrics.inbound_stored(bot)
    except IntegrityError:
        if inbound.upstream_msgid and _is_duplicate(bot, inbound.upstream_msgid):
            return None
        raise
    return message


def _send_inbound_message_stored(message_ids: list[int]) -> None:
    # send_robust: the message is stored whatever a receiver does (failures are logged).
    inbound_message_stored.send_robust(sender=Message, message_ids=message_ids)


def _is_duplicate(bot: Bot, upstream_msgid: str) -> bool:
    return Message.objects.filter(
        bot=bot, direction=Message.Direction.IN, upstream_msgid=upstream_msgid
    ).exists()
