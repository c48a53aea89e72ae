"""WeCom AI bot frames as botadmin reads them: callbacks → the seed's body, media decryption.

Pure functions, no I/O: the gateway (`connectors/aibot_gateway.py`) calls
them and the tests drive them with the documented frames
(shared/spec/wecom-aibot.md).

The mapping to the seed's callback body (bridge spec section 3):

* a group chat is its `chatid` (`conversation_type: "group"`), a direct chat
  the user's id (`"user"`); `sender` is `from.userid` (and `sender_name`
  when WeCom gives a name);
* `text`: group messages lose the leading @-mention of the bot; the text as
  WeCom sent it stays in `text.raw_content`;
* `voice` (already speech-to-text) and `mixed` are stored as `text`: voice
  with its transcription as content (the original object stays under
  `voice`), mixed with its text parts joined and its images attached as
  media (the items stay under `mixed`);
* `image`, `file`, `video`: the object as WeCom sent it, plus `cdn_type` /
  `cdn` (the URL) so it is a media reference like an agent's; the bytes are
  fetched and decrypted at once by the gateway;
* events (`enter_chat`, `template_card_event`, `feedback_event`, …):
  `msgtype: "event"` with the `event` object.

A message's body carries `reply_until` (Unix seconds): until then a send
with `reply_to` set to its msgid goes out as this message's reply
(`aibot_respond_msg`). An `enter_chat` event is answered by the welcome
message (`aibot_respond_welcome_msg`, text or template card) within 5 s, and
a card click (`template_card_event`) by the clicked card's replacement
(`aibot_respond_update_msg` with an `update_template_card` body, a template
card) within 5 s (wecom-aibot.md's command table), so their `reply_until`
is 5 s away; other events take no reply and carry no `reply_until`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.utils.translation import gettext_noop

from botadmin.reasons import Reason

MEDIA_REFERENCE = "wecom_aibot"
RESPOND = "aibot_respond_msg"
RESPOND_WELCOME = "aibot_respond_welcome_msg"
RESPOND_UPDATE = "aibot_respond_update_msg"
# WeCom takes the welcome message within 5 s of the enter_chat event, and a card's
# update within 5 s of its click.
WELCOME_SECONDS = 5.0
CARD_UPDATE_SECONDS = 5.0
CARD_EVENT = "template_card_event"
MEDIA_MSGTYPES = ("image", "file", "video")
DISCONNECTED_EVENT = "disconnected_event"
# "@机器人 " — the mention WeCom puts before a group message, with the space
# after it (ASCII or the U+2005 WeCom uses).
_LEADING_MENTION = re.compile(r"^\s*@\S+[\s\u2005]*")


class FrameError(ValueError):
    """A frame that cannot be read as a message (kept out of the store, logged)."""


class RepeatedKey(FrameError):
    """A frame naming one key twice in an object, with two different values."""


def _object_without_conflicts(pairs: list[tuple[str, object]]) -> dict:
    read: dict = {}
    for key, value in pairs:
        if key in read and read[key] != value:
            raise RepeatedKey(f"the key {key!r} twice, with different values")
        read[key] = value
    return read


def read_frame(raw: str | bytes) -> object:
    """A frame's JSON, refusing one that names a key twice with different values.

    JSON leaves repeated names unpredictable (RFC 8259, section 4): Python's json keeps the
    last value, other readers the first or refuse. WeCom's frames never repeat a key, so
    one that does was altered on the way; read last-wins, a `chatid`, `from.userid` or
    `headers.req_id` could file a message in another chat, answer another callback or take
    another request's ack. Such a frame raises RepeatedKey (the gateway logs and drops it:
    a callback is not stored, an ack answers nothing, so its request ends unacknowledged,
    as with a lost ack). A key repeated with the same value reads alike everywhere: taken.
    Raises ValueError (json's) for what is not JSON."""
    return json.loads(raw, object_pairs_hook=_object_without_conflicts)


@dataclass
class Callback:
    """One inbound message or event, mapped."""

    body: dict  # the seed's callback body
    media: list[dict] = field(default_factory=list)  # [{"kind", "url", "aeskey"}] to fetch


def frame_req_id(frame: dict) -> str:
    """The frame's `headers.req_id`, or "" when it has none (or headers that are no object)."""
    headers = frame.get("headers")
    return str(headers.get("req_id") or "") if isinstance(headers, dict) else ""


def frame_body(frame: dict) -> dict:
    """The frame's `body`, or {} when it has none or one that is no object."""
    body = frame.get("body")
    return body if isinstance(body, dict) else {}


def event_type(frame: dict) -> str:
    body = frame.get("body") or {}
    event = body.get("event") if isinstance(body, dict) else None
    return str(event.get("eventtype") or "") if isinstance(event, dict) else ""


def reply_command(frame: dict, message_window: float) -> tuple[str, float] | None:
    """(command, seconds) that answer this callback, or None when it takes no reply."""
    if frame.get("cmd") == "aibot_msg_callback":
        return RESPOND, message_window
    if frame.get("cmd") == "aibot_event_callback" and event_type(frame) == "enter_chat":
        return RESPOND_WELCOME, WELCOME_SECONDS
    if frame.get("cmd") == "aibot_event_callback" and event_type(frame) == CARD_EVENT:
        return RESPOND_UPDATE, CARD_UPDATE_SECONDS
    return None


def clicked_task_id(body: dict) -> str:
    """The task_id of the card a `template_card_event` is about, or "", from the callback's
    body (the frame's or the stored one: both carry `event`).

    WeCom's event documentation (path 101027) nests the click under
    `event.template_card_event`; Tencent's SDK types (`src/types/event.ts`)
    put `task_id` on `event` itself: both are read."""
    event = body.get("event") if isinstance(body, dict) else None
    if not isinstance(event, dict) or event.get("eventtype") != CARD_EVENT:
        return ""
    nested = event.get(CARD_EVENT)
    task_id = (nested if isinstance(nested, dict) else {}).get("task_id") or event.get("task_id")
    return str(task_id or "")


def card_update(card: dict, task_id: str) -> dict:
    """The `aibot_respond_update_msg` body replacing the clicked card with `card` for everyone
    (Tencent's SDK, `src/client.ts` updateTemplateCard: its task_id must be the clicked
    card's, which fills it when the card has none)."""
    card = {**card, "task_id": card.get("task_id") or task_id} if task_id else card
    return {"response_type": "update_template_card", "template_card": card}


# Past this a create_time is taken for milliseconds: in seconds it would be the year 5138.
MILLISECONDS_FROM = 100_000_000_000
# 9999-12-31 23:59:59 UTC, the last second the inbound service takes.
LAST_SECOND = 253_402_300_799


def _unix_seconds(value) -> int | None:
    """A callback's `create_time` in whole Unix seconds, or None when it is no time at all.

    wecom-aibot.md does not say its unit; milliseconds are read as such (and cut to the
    second: receivers read `timestamp` as an integer), and a value that is no time is
    left out rather than refuse the message with it (the inbound service refuses a
    timestamp it cannot read)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    if value >= MILLISECONDS_FROM:
        value = value / 1000
    return int(value) if 0 <= value <= LAST_SECOND else None


def callback_body(frame: dict, reply_until: int | None) -> Callback:
    """The seed body of an `aibot_msg_callback` / `aibot_event_callback` frame."""
    body = frame.get("body")
    if not isinstance(body, dict):
        raise FrameError("callback without a body")
    sender_info = body.get("from") if isinstance(body.get("from"), dict) else {}
    sender = str(sender_info.get("userid") or "")
    chatid = str(body.get("chatid") or "")
    # `chatid` comes with group messages only (wecom-aibot.md); an event may come without a
    # `chattype` (Tencent's SDK types: `chattype?`), and one from a group is still the group's.
    group = bool(chatid) and body.get("chattype") in ("group", None, "")
    conversation_id = chatid if group else sender
    if not conversation_id:
        raise FrameError("callback with neither chatid nor from.userid")
    msgtype = str(
        body.get("msgtype") or ("event" if frame.get("cmd") == "aibot_event_callback" else "")
    )
    if not msgtype:
        raise FrameError("callback without a msgtype")
    msgid = str(body.get("msgid") or "")
    if not msgid:
        req_id = frame_req_id(frame)
        msgid = f"{msgtype}:{req_id}" if req_id else ""
    seed: dict = {
        "msgtype": msgtype,
        "conversation_id": conversation_id,
        "conversation_type": "group" if group else "user",
        "sender": sender,
    }
    if reply_until is not None:
        seed["reply_until"] = reply_until
    if msgid:
        seed["msgid"] = msgid
    if (sent_at := _unix_seconds(body.get("create_time"))) is not None:
        seed["timestamp"] = sent_at
    if sender_info.get("name"):
        seed["sender_name"] = str(sender_info["name"])
    if isinstance(body.get("quote"), dict):
        seed["quote"] = body["quote"]
    media: list[dict] = []
    payload = body.get(msgtype)
    payload = payload if isinstance(payload, dict) else {}
    if msgtype == "text":
        raw = str(payload.get("content") or "")
        seed["text"] = {"content": _without_mention(raw) if group else raw}
        if group:
            seed["text"]["raw_content"] = raw
    elif msgtype == "voice":
        seed["msgtype"] = "text"
        seed["text"] = {"content": str(payload.get("content") or "")}
        seed["voice"] = payload
    elif msgtype == "mixed":
        items = payload.get("msg_item") if isinstance(payload.get("msg_item"), list) else []
        texts = []
        for item in items:
            if not isinstance(item, dict):
                continue
            kind = item.get("msgtype")
            part = item.get(kind) if isinstance(item.get(kind), dict) else {}
            if kind == "text":
                texts.append(str(part.get("content") or ""))
            elif kind == "image" and part.get("url"):
                media.append(
                    {"kind": "image", "url": part["url"], "aeskey": part.get("aeskey", "")}
                )
        content = "\n".join(texts)
        seed["msgtype"] = "text"
        seed["text"] = {"content": _without_mention(content) if group else content}
        seed["mixed"] = payload
    elif msgtype in MEDIA_MSGTYPES:
        url = str(payload.get("url") or "")
        seed[msgtype] = {**payload, "cdn_type": MEDIA_REFERENCE, "cdn": url}
        if url:
            media.append({"kind": msgtype, "url": url, "aeskey": payload.get("aeskey", "")})
    elif msgtype == "event":
        seed["event"] = body.get("event") if isinstance(body.get("event"), dict) else {}
    else:  # a msgtype WeCom adds later: kept as it came
        seed[msgtype] = body.get(msgtype)
    return Callback(seed, media)


def mixed_image_reference(image: dict) -> str:
    """The `cdn` of the media row of a `mixed` message's image: its URL with the message's
    aeskey as the fragment (which no HTTP client sends)."""
    return f"{image.get('url', '')}#{image.get('aeskey', '')}"


def _without_mention(content: str) -> str:
    return _LEADING_MENTION.sub("", content, count=1)


def decrypt_media(data: bytes, aeskey: str) -> bytes:
    """AES-256-CBC with the message's own key (base64), IV = key[:16], PKCS#7 to 32 bytes."""
    try:
        key = base64.b64decode(aeskey + "=" * (-len(aeskey) % 4), validate=False)
    except (binascii.Error, ValueError):
        raise FrameError(Reason(gettext_noop("the media aeskey is not base64"))) from None
    if len(key) != 32:
        wrong_size = gettext_noop("the media aeskey is %(size)s bytes, not 32")
        raise FrameError(Reason(wrong_size, size=len(key)))
    if not data or len(data) % 16:
        raise FrameError(
            Reason(gettext_noop("the encrypted media is not a whole number of AES blocks"))
        )
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
        raise FrameError(
            Reason(gettext_noop("the decrypted media has no valid padding (wrong key?)"))
        )
    return plain[:-pad]


def encrypt_media(plain: bytes, aeskey: str) -> bytes:
    """The inverse of `decrypt_media` (the tests' fake server encrypts with it)."""
    key = base64.b64decode(aeskey + "=" * (-len(aeskey) % 4))
    pad = 32 - len(plain) % 32
    padded = plain + bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return encryptor.update(padded) + encryptor.finalize()
