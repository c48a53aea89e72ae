"""`POST /api/send`: the seed document's send endpoint, WeCom-robot compatible.

The view reads the raw body itself instead of declaring it as a django-ninja
body parameter. Reason: errors must carry WeCom's codes for each kind of
problem (40008 msgtype, 44004 empty, 40058 field, 301019 md5) and its own for
transport problems (not JSON, too large, wrong content type), while ninja
would answer any body problem with one generic validation error. The body's
OpenAPI description is still generated from the pydantic models the
validation uses (`messaging.schemas`), through `openapi_extra`, so the
documentation cannot drift from the code.
"""

import re
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from ninja import Router

from botadmin.api import (
    MAX_CONVERSATION_ID_LENGTH,
    BotSecret,
    answers,
    envelope,
    given_twice_differently,
    json_body,
    well_formed_conversation_id,
)
from botadmin.api_body import body_text
from botadmin.errors import Err, errmsg_value

from .models import Message
from .ratelimit import check_send_rate
from .schemas import SendAccepted, request_body_schema
from .send_times import answered_send_at, parse_send_at
from .sending import accept_outbound

router = Router(tags=["send"])

# What tools put in Content-Type when they post JSON: curl -d without -H says
# form-urlencoded, some scripts say text/plain or nothing at all.
JSON_COMPATIBLE_TYPES = {
    "",
    "application/json",
    "text/json",
    "text/plain",
    "application/x-www-form-urlencoded",
}
# Printable ASCII, the space included: the characters of the IETF draft's sf-string
# (draft-ietf-httpapi-idempotency-key-header; RFC 9651 section 3.3.3).
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x20-\x7e]{1,200}$")


_QUERY_PARAMETERS = [
    {
        "name": "conversation_id",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "maxLength": MAX_CONVERSATION_ID_LENGTH},
        "description": "A user or group of this bot, as /api/users and /api/groups list them.",
    },
    {
        "name": "send_at",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Schedule the message: ISO 8601 (an offset's '+' written as %2B; "
        "a bare '+', arriving as a space, is read as one) or Unix seconds.",
    },
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 200},
        "description": "1-200 printable ASCII characters (spaces inside count), bare or "
        'as a quoted string ("abc" is the key abc). Same key within 24 h: the first '
        "answer again, nothing stored twice.",
    },
]


@router.post(
    "/send",
    summary="Send a message to a conversation",
    description="WeCom group-robot compatible. See docs/api.md for every errcode.",
    # The hot path: the bot and the addressed conversation in one query.
    auth=BotSecret(conversation_id=lambda request: request.GET.get("conversation_id")),
    response=answers(SendAccepted, 403, 404, 409, 410, 413, 415, 429),
    openapi_extra={
        "parameters": _QUERY_PARAMETERS,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": request_body_schema()}},
        },
    },
)
def send(request: HttpRequest):
    bot = request.auth
    check_send_rate(bot.pk)
    body = _json_body(request)
    if given_twice_differently(request, "conversation_id"):
        raise Err.INVALID_PARAMETER.error(
            "invalid parameter: conversation_id is given twice with different values"
        )
    conversation_id = request.GET.get("conversation_id", "")
    if not conversation_id:
        raise Err.INVALID_PARAMETER.error("invalid parameter: conversation_id is missing")
    if not well_formed_conversation_id(conversation_id):
        raise Err.INVALID_PARAMETER.error("invalid parameter: conversation_id is malformed")
    if given_twice_differently(request, "send_at"):
        raise Err.INVALID_PARAMETER.error(
            "invalid parameter: send_at is given twice with different values"
        )
    message = accept_outbound(
        bot=bot,
        conversation_id=conversation_id,
        body=body,
        source=Message.Source.API,
        idempotency_key=_idempotency_key(request),
        send_at=_send_at(request, body),
        conversation=request.conversation,
    )
    headers = {"Idempotent-Replayed": "true"} if message.replayed else None
    fields = {"msgid": message.msgid}
    if send_at := answered_send_at(message):
        fields["send_at"] = send_at
    return envelope(0, "ok", fields, headers=headers)


def _send_at(request: HttpRequest, body) -> datetime | None:
    """The time to send at, from the query string or the body. Given in both, they must
    be the same instant (however written: `…T10:00:00+08:00` and `…T02:00:00Z` are one),
    or the caller has a mistake to learn about rather than one of them silently lost."""
    # An empty one (a URL template's `send_at=` left blank) is no time, as in the body:
    # the body's send_at, if any, still schedules the message.
    in_query = request.GET.get("send_at") or None
    in_body = body.get("send_at") if isinstance(body, dict) else None
    from_query, from_body = parse_send_at(in_query), parse_send_at(in_body)
    if from_query is not None and from_body is not None and from_query != from_body:
        raise Err.INVALID_PARAMETER.error(
            f"invalid parameter: send_at differs between the query string "
            f"({errmsg_value(in_query, 40)}) and the body ({errmsg_value(str(in_body), 40)}): "
            "give one, or the same time in both"
        )
    return from_query if from_query is not None else from_body


def _json_body(request: HttpRequest):
    media_type = request.content_type.split(";")[0].strip().lower()
    if media_type not in JSON_COMPATIBLE_TYPES and not media_type.endswith("+json"):
        raise Err.UNSUPPORTED_MEDIA_TYPE.error(
            f"Content-Type must be application/json, not {errmsg_value(media_type, 60)}"
        )
    # body_text reads the stream directly: request.body would stop at Django's
    # DATA_UPLOAD_MAX_MEMORY_SIZE, smaller than a 2 MB image in base64.
    text = body_text(request, settings.BOTADMIN_SEND_MAX_BODY_BYTES)
    # WeCom's robot takes raw line breaks inside strings, which shell and template
    # tools write when they paste multi-line text into a JSON body.
    return json_body(text, strict=False)


def _idempotency_key(request: HttpRequest) -> str:
    """The header's key. The draft writes it as a quoted sf-string
    (`Idempotency-Key: "8e03978e-…"`): one that starts with a quote is read as one, so
    `"abc"` and `abc` are the same key; a bare value is the key as written."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return ""
    key = key.strip()
    if key.startswith('"'):
        key = _sf_string(key)
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise Err.INVALID_PARAMETER.error(
            "invalid parameter: Idempotency-Key must be 1-200 printable ASCII characters"
        )
    return key


def _sf_string(quoted: str) -> str:
    """The characters of a quoted Structured Field string (RFC 9651 section 4.2.5),
    its two escapes (backslash-quote, backslash-backslash) undone."""
    chars = []
    rest = iter(quoted[1:])
    for char in rest:
        if char == "\\":
            char = next(rest, "")
            if char not in ('"', "\\"):
                raise Err.INVALID_PARAMETER.error(
                    "invalid parameter: Idempotency-Key is a quoted string with a backslash "
                    'not followed by " or \\'
                )
        elif char == '"':
            after = "".join(rest)
            if after.lstrip(" \t").startswith(","):
                # Two headers, which the server joins with a comma. A bare key may hold a
                # comma (printable ASCII), so only quoted ones can be told apart.
                raise Err.INVALID_PARAMETER.error(
                    "invalid parameter: Idempotency-Key is given twice (two quoted keys "
                    "joined by a comma): send one"
                )
            if after:
                raise Err.INVALID_PARAMETER.error(
                    "invalid parameter: Idempotency-Key has characters after its closing "
                    "quote (parameters are not accepted)"
                )
            return "".join(chars)
        chars.append(char)
    raise Err.INVALID_PARAMETER.error(
        "invalid parameter: Idempotency-Key starts with a quote but has no closing quote"
    )
