"""POST /api/callback: agents report every message they see (bridge spec section 3)."""

from django.http import HttpRequest
from ninja import Router

from botadmin.api import envelope
from botadmin.errors import Err

from .inbound import MAX_BODY_BYTES, CallbackBody, authenticate, parse_callback, record_inbound

router = Router(tags=["inbound"])


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
    openapi_extra={
        "parameters": [
            {"in": "query", "name": "secret", "required": False, "schema": {"type": "string"}}
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline_refs(CallbackBody.model_json_schema())}
            },
        },
    },
)
def callback(request: HttpRequest):
    # Read and validate the raw body ourselves: each failure has its own errcode.
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        raise Err.BODY_TOO_LARGE.error(f"request body larger than {MAX_BODY_BYTES} bytes")
    inbound = parse_callback(request.body)
    bot, conversation = authenticate(inbound, request.GET.get("secret"))
    record_inbound(bot, inbound, conversation)
    return envelope(0, "ok")
