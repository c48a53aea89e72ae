"""What the fake AI bot server (devtools/fake_wecom_aibot.py) refuses in a frame's body.

WeCom checks the bodies of the long connection's commands; the fake checks at
least as much, so a body our gateway builds wrong fails in the tests and not in
production. Each check returns None for a body WeCom takes, else the ack's
(errcode, errmsg). The errcodes are WeCom's global ones for the meaning (40058
invalid parameter, 40004 invalid media type, 40006 invalid file size, 40007
invalid media_id, 40008 invalid message type); which one WeCom gives for each case
is not documented.

Uploads (wecom-aibot.md, Tencent's SDK `uploadMedia`): `type` image / file /
voice / video, a `filename`, `total_size` bytes in `total_chunks` chunks of at
most 512 KB before base64, at most 100 chunks, an optional `md5` of the
whole; the chunks must add up to `total_size` and to the md5. `chunk_index` counts from 0: that is
what Tencent's Node SDK sends (`uploadChunk(0)` …), though the comment on its
type says "从 1 开始"; the SDK is what works against WeCom. A media_id is
usable only by the bot that uploaded it (as a group robot's, wecom.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

MEDIA_MSGTYPES = ("image", "file", "voice", "video")
CHUNK_MAX_BYTES = 512 * 1024
MAX_CHUNKS = 100
# WeCom's media/upload limits; a file must be larger than 5 bytes.
MEDIA_MIN_BYTES = 6
MEDIA_MAX_BYTES = {
    "image": 10 * 1024 * 1024,
    "voice": 2 * 1024 * 1024,
    "video": 10 * 1024 * 1024,
    "file": 20 * 1024 * 1024,
}
# aibot_send_msg markdown and a stream's content: UTF-8 bytes.
CONTENT_MAX_BYTES = 20480
STREAM_MSG_ITEMS_MAX = 10
# What aibot_respond_msg answers a message with: Tencent's SDK types (WecomTeam/aibot-node-sdk,
# src/types/api.ts: StreamReplyBody, TemplateCardReplyBody, StreamWithTemplateCardReplyBody)
# and media by an upload's media_id (its published build's `replyMedia`, vendored in
# painrice/wecom-qoder-bridge, node_modules/@wecom/aibot-node-sdk/dist/index.cjs.js).
# No markdown and no text: 40008.
REPLY_MSGTYPES = ("stream", "template_card", "stream_with_template_card", *MEDIA_MSGTYPES)
# The template cards an AI bot sends (wecom-aibot.md, "Reply bodies").
CARD_TYPES = (
    "text_notice",
    "news_notice",
    "button_interaction",
    "vote_interaction",
    "multiple_interaction",
)
_MD5 = re.compile(r"^[0-9a-f]{32}$")
# A card's task_id: digits, letters and "_-@" only (Tencent's SDK types, src/types/api.ts:
# 只能由数字、字母和"_-@"组成); its uniqueness and 128 bytes are the server's to check.
_TASK_ID = re.compile(r"^[0-9A-Za-z_@-]*$")

Refusal = tuple[int, str] | None


def invalid(what: str) -> tuple[int, str]:
    return 40058, f"invalid parameter: {what}"


def _count(value: object) -> int | None:
    """An integer field's value (JSON numbers only, not booleans)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def check_upload_init(body: dict) -> Refusal:
    kind = body.get("type")
    if kind not in MEDIA_MSGTYPES:
        return 40004, "invalid media type"
    if not _text(body.get("filename")):
        return invalid("filename")
    chunks, size = _count(body.get("total_chunks")), _count(body.get("total_size"))
    if chunks is None or not 1 <= chunks <= MAX_CHUNKS:
        return invalid(f"total_chunks must be 1 to {MAX_CHUNKS}")
    if size is None or not MEDIA_MIN_BYTES <= size <= MEDIA_MAX_BYTES[kind]:
        return 40006, "invalid file size"
    if not chunks <= size <= chunks * CHUNK_MAX_BYTES:
        return invalid("total_size does not fit total_chunks chunks of 1 byte to 512 KB")
    if "md5" in body and not (isinstance(body["md5"], str) and _MD5.match(body["md5"])):
        return invalid("md5")
    return None


def chunk_bytes(upload: dict, body: dict) -> tuple[int, bytes] | tuple[int, str]:
    """A chunk's (index, bytes), or the refusal's (errcode, errmsg)."""
    if "media_id" in upload:
        return invalid("upload_id already finished")
    index = _count(body.get("chunk_index"))
    if index is None or not 0 <= index < upload["total_chunks"]:
        return invalid(f"chunk_index must be 0 to {upload['total_chunks'] - 1}")
    try:
        data = base64.b64decode(str(body.get("base64_data") or ""), validate=True)
    except (binascii.Error, ValueError):
        return invalid("base64_data")
    if not data or len(data) > CHUNK_MAX_BYTES:
        return invalid("a chunk is 1 byte to 512 KB before base64")
    return index, data


def upload_data(upload: dict) -> bytes | tuple[int, str]:
    """The finished upload's bytes, or the refusal's (errcode, errmsg)."""
    chunks = upload["chunks"]
    missing = [i for i in range(upload["total_chunks"]) if i not in chunks]
    if missing:
        return invalid(f"chunk {missing[0]} missing")
    data = b"".join(chunks[i] for i in range(upload["total_chunks"]))
    if len(data) != upload["total_size"]:
        return invalid("the chunks do not add up to total_size")
    if "md5" in upload and hashlib.md5(data).hexdigest() != upload["md5"]:  # noqa: S324
        return invalid("md5 does not match the chunks")
    return data


def check_send(body: dict) -> Refusal:
    """aibot_send_msg's own fields (the media_id and task_id are the server's to check)."""
    if not _text(body.get("chatid")):
        return invalid("chatid")
    if "chat_type" in body and body["chat_type"] not in (1, 2):
        return invalid("chat_type")
    if body.get("msgtype") == "markdown":
        content = (body.get("markdown") or {}).get("content")
        return _check_content(content, "markdown.content") or (
            None if content else invalid("markdown.content is empty")
        )
    return check_card(body)


def check_reply(body: dict) -> Refusal:
    """aibot_respond_msg's body (the media_id and task_id are the server's to check)."""
    msgtype = body.get("msgtype")
    if msgtype not in REPLY_MSGTYPES:
        return 40008, "invalid message type"
    if msgtype in ("stream", "stream_with_template_card"):
        return _check_stream(body.get("stream")) or check_card(body)
    return check_card(body)


def check_card(body: dict) -> Refusal:
    """The body's `template_card`, if it has one (or must: msgtype template_card), is of
    one of the AI bot's card types."""
    if "template_card" not in body and body.get("msgtype") != "template_card":
        return None
    card = body.get("template_card")
    if not isinstance(card, dict) or card.get("card_type") not in CARD_TYPES:
        return invalid("template_card.card_type")
    task_id = card.get("task_id")
    if task_id is not None and not (isinstance(task_id, str) and _TASK_ID.match(task_id)):
        return invalid("template_card.task_id")
    return None


def _check_stream(stream: object) -> Refusal:
    if not isinstance(stream, dict) or not _text(stream.get("id")):
        return invalid("stream.id")
    if "content" in stream and (refused := _check_content(stream["content"], "stream.content")):
        return refused
    items = stream.get("msg_item")
    if items is not None and (
        not stream.get("finish") or not isinstance(items, list) or len(items) > STREAM_MSG_ITEMS_MAX
    ):
        return invalid(f"stream.msg_item: at most {STREAM_MSG_ITEMS_MAX}, with finish only")
    return None


def _check_content(content: object, where: str) -> Refusal:
    if not isinstance(content, str):
        return invalid(where)
    if len(content.encode()) > CONTENT_MAX_BYTES:
        return invalid(f"{where} longer than {CONTENT_MAX_BYTES} bytes")
    return None
