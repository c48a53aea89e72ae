"""POST /api/callback: agents report every message they see (bridge spec section 3)."""

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema

from botadmin.api import BotSecret, answers, envelope
from botadmin.api_body import body_text

from .inbound import MAX_BODY_BYTES, CallbackBody, Inbound, parse_callback, record_inbound

router = Router(tags=["inbound"])


class Stored(Schema):
    errcode: Literal[0]
    errmsg: Literal["ok"]


def _inbound(request: HttpRequest) -> Inbound:
    """The validated body, read once: authentication needs its secret."""
    if not hasattr(request, "inbound"):
        # Read and validate the raw body ourselves: each failure has its own errcode.
        request.inbound = parse_callback(body_text(request, MAX_BODY_BYTES))
    return request.inbound


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
    # Agents put the secret in the body (bridge spec section 3) or in the query.
    # The body is checked first: a malformed one is answered as such whoever sent it.
    response=answers(Stored, 413, 415),
    auth=BotSecret(
        secret=lambda request: _inbound(request).envelope.secret,
        conversation_id=lambda request: _inbound(request).envelope.conversation_id,
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
    record_inbound(request.auth, _inbound(request), request.conversation)
    return envelope(0, "ok")
