"""`GET /api/messages/<msgid>?secret=…`: what happened to a message a bot sent or received.

`msgid` is botadmin's own id: what /api/send answered, or for a received message
its forwarding's `webhook-id` without `msg_` (the forwarded body's `msgid` is the
agent's, kept as `upstream_msgid`).

Answers the message's status, timestamps, last error and every delivery
attempt in the errcode envelope. A bot sees only its own messages; any
other msgid answers NO_SUCH_MESSAGE, exactly like one that does not exist.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema

from botadmin.api import answers, envelope
from botadmin.errors import Err, errmsg_value

from .models import Message, could_be_msgid

router = Router(tags=["messages"])


class AttemptDescription(Schema):
    started_at: str = Field(..., description="ISO 8601.")
    duration_ms: int | None
    outcome: str = Field(..., examples=["sent", "retry", "failed", "uncertain"])
    http_status: int | None
    errcode: int | None
    response: str = Field(..., description="The first 1 KB of the answer, or the error.")


class MessageDescription(Schema):
    msgid: str
    conversation_id: str
    direction: str = Field(..., examples=["out", "in"])
    msgtype: str
    status: str = Field(..., examples=["queued", "sent", "failed"])
    source: str
    created_at: str = Field(..., description="ISO 8601, like every time here.")
    scheduled_at: str | None
    next_attempt_at: str | None
    sent_at: str | None
    attempt_count: int
    last_error: str
    upstream_msgid: str
    attempts: list[AttemptDescription]


class MessageStatus(Schema):
    errcode: int = Field(0, examples=[0])
    errmsg: str = Field("ok", examples=["ok"])
    message: MessageDescription


@router.get(
    "/{msgid}", summary="Delivery status of one message", response=answers(MessageStatus, 404)
)
def message_status(request: HttpRequest, msgid: str):
    bot = request.auth
    if not could_be_msgid(msgid):
        raise Err.NO_SUCH_MESSAGE.error(f"no such message: {errmsg_value(msgid)}")
    message = (
        Message.objects.filter(bot=bot, msgid=msgid)
        .select_related("conversation")
        .prefetch_related("attempts")
        .first()
    )
    if message is None:
        raise Err.NO_SUCH_MESSAGE.error(f"no such message: {errmsg_value(msgid)}")
    return envelope(0, "ok", {"message": describe(message)})


def describe(message: Message) -> dict:
    return {
        "msgid": message.msgid,
        "conversation_id": message.conversation.conversation_id,
        "direction": message.direction,
        "msgtype": message.msgtype,
        # What the connector really sent, and why when it differs (docs/api.md).
        "sent_as": message.sent_as or None,
        "conversion": message.conversion,
        "status": message.status,
        "source": message.source,
        "created_at": _iso(message.created_at),
        "scheduled_at": _iso(message.scheduled_at),
        "next_attempt_at": _iso(message.next_attempt_at),
        "sent_at": _iso(message.sent_at),
        "attempt_count": message.attempt_count,
        "last_error": message.last_error,
        "upstream_msgid": message.upstream_msgid,
        "attempts": [
            {
                "started_at": _iso(attempt.started_at),
                "duration_ms": attempt.duration_ms,
                "outcome": attempt.outcome,
                "http_status": attempt.http_status,
                "errcode": attempt.errcode,
                "response": attempt.response_text,
            }
            for attempt in message.attempts.all()
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
