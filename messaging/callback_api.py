"""POST /api/callback: agents report every message they see (bridge spec section 3)."""

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema

from botadmin.api import BotSecret, answers, envelope
from botadmin.api_body import body_text
from botadmin.errors import ApiError

from .inbound import (
    MAX_BODY_BYTES,
    CallbackBody,
    read_callback_object,
    record_inbound,
    validate_callback,
)

router = Router(tags=["inbound"])


class Stored(Schema):
    errcode: Literal[0]
    errmsg: Literal["ok"]


def _body_object(request: HttpRequest) -> dict | None:
    """The body as a JSON object, read once, not validated yet; None when it cannot be
    read as one (too large, compressed or encoded wrongly, not JSON, not an object).

    Authentication looks in it for the secret before anything judges it: what is wrong
    with a body, down to its fields, is said only to a caller whose secret is right
    (`request.callback_unreadable` keeps the reason until then). A body that cannot be
    read has no secret to offer: the query string's is the only one.
    """
    if not hasattr(request, "callback_object"):
        request.callback_object, request.callback_unreadable = None, None
        try:
            request.callback_object = read_callback_object(body_text(request, MAX_BODY_BYTES))
        except ApiError as error:
            request.callback_unreadable = error
    return request.callback_object


def _body_string(name: str):
    """Authentication's reader of the body's field `name`: a string, else None."""

    def read(request: HttpRequest) -> str | None:
        value = (_body_object(request) or {}).get(name)
        return value if isinstance(value, str) else None

    return read


def _inline_refs(schema: dict) -> dict:
    """The pydantic schema with its $defs inlined, for the operation's requestBody."""
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)


@router.post(
    "/callback",
    summary="Report an inbound message (agent → botadmin)",
    description=(
        "The seed's section 3 body. Authenticated by `secret` (in the body or the query "
        "string). A repeated `msgid` is answered ok and stored once. Unknown msgtypes are "
        "stored raw and forwarded unchanged."
    ),
    # Agents put the secret in the body (bridge spec section 3) or in the query. The
    # secret is checked first, as by every endpoint: a caller without the right one
    # learns nothing about the body, not even that it could not be read.
    response=answers(Stored, 413, 415),
    auth=BotSecret(
        secret=_body_string("secret"),
        conversation_id=_body_string("conversation_id"),
        whole_conversation=True,  # its kind, name and activity are kept current
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline_refs(CallbackBody.model_json_schema())}
            },
        },
    },
)
def callback(request: HttpRequest):
    data = _body_object(request)
    if data is None:
        raise request.callback_unreadable
    record_inbound(request.auth, validate_callback(data), request.conversation)
    return envelope(0, "ok")
