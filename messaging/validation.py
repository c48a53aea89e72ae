"""The one validation of an outbound message body, shared by the API, the console and announcements.

`validate_outbound(bot, body)` returns the normalised body or raises ApiError
with WeCom's errcode for the problem (shared/spec/wecom.md section 2):

* 40008 — no, unknown or not-yet-supported msgtype, or one the bot's
  connector can neither send nor convert (a mini program without a web
  page, to a WeCom group robot);
* 44004 — a text or markdown without content (a text with only mentions is
  sent as mentions only where the connector allows it);
* 40058 — a field of the wrong type (msgtype or a msgtype's object included), missing,
  too long, a bad URL (a link's `url` may be a bare host[/path], botadmin.links); a
  link's or news article's title and description are cut to the connector's limits
  instead, as WeCom cuts them ("超过会自动截断": its robot's news, its app's textcard
  and news);
* 301019 — an image, file or voice whose md5 does not match its bytes.

Shapes come from `messaging.schemas` (also the OpenAPI description); this
module adds what depends on the connector, read from its class: byte limits
(`Connector.limits`), image formats, mentions-only texts, and whether the
msgtype can be sent natively or converted (`connectors.conversions`; the
conversion itself happens at delivery, with the bot's capabilities then).
docs/api.md lists every connector's limits and conversions.
"""

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from pydantic import ValidationError

from botadmin import links
from botadmin.api import not_an_object
from botadmin.errors import Err
from botadmin.jsontext import unstorable
from connectors import conversions
from connectors.base import MEDIA_MIN_BYTES, Limits
from connectors.images import describe_formats, image_format
from connectors.registry import connector_for
from connectors.voice import amr_seconds, is_amr
from conversations.models import Bot

from .card_task_ids import well_formed_task_id
from .field_errors import field_error, wrong_type
from .schemas import (
    INTERACTIVE_CARDS,
    MAX_URL_BYTES,
    MSGTYPES,
    NOTICE_CARDS,
    TASK_ID_MAX_BYTES,
    outbound_message,
)
from .uploads import live_upload

UPSTREAM_MSGID_MAX_BYTES = 128  # Message.upstream_msgid


def validate_outbound(bot: Bot, body: dict) -> dict:
    if not isinstance(body, dict):
        raise not_an_object()
    msgtype = body.get("msgtype")
    if "msgtype" not in body or msgtype == "":
        raise Err.INVALID_MSGTYPE.error("invalid message type: msgtype is missing")
    if not isinstance(msgtype, str):
        raise wrong_type("msgtype", "a string", msgtype)
    if msgtype not in MSGTYPES:
        raise Err.INVALID_MSGTYPE.error(
            f"invalid message type: {msgtype[:40]!r}; use one of {', '.join(sorted(MSGTYPES))}"
        )
    connector = connector_for(bot)
    if conversions.route(type(connector), msgtype, connector.msgtypes()) is None:
        raise Err.INVALID_MSGTYPE.error(
            f"msgtype {msgtype} cannot be sent by a {connector.english_label()} bot; "
            f"it sends {', '.join(sorted(connector.msgtypes()))}"
        )
    if msgtype in ("text", "markdown", "markdown_v2") and msgtype not in body:
        # WeCom's "empty content"; an object of the wrong type (null too) is 40058 below.
        raise Err.EMPTY_CONTENT.error(
            f"empty content: {msgtype}.content is missing", empty_field=f"{msgtype}.content"
        )
    try:
        message = outbound_message.validate_python(body)
    except ValidationError as error:
        raise field_error(error) from None
    payload = getattr(message, msgtype).model_dump(exclude_none=True)
    check_strings(payload, msgtype)
    check = _CHECKS[msgtype]
    check(payload, connector.limits, connector)
    body = {"msgtype": msgtype, msgtype: payload}
    if message.reply_to is not None:
        body["reply_to"] = _reply_to(message.reply_to, connector)
    try:
        conversions.convert(connector, body)
    except conversions.CannotConvert as error:
        raise Err.INVALID_MSGTYPE.error(str(error)) from None
    return body


def _reply_to(value: str, connector) -> str:
    """The msgid a reply answers; whether that message exists is checked where the
    conversation is known (messaging.sending)."""
    if not connector.replies:
        raise Err.FIELD_INVALID.error(
            f"invalid field: reply_to: a {connector.english_label()} bot cannot reply to a message"
        )
    if not value.strip():
        raise Err.FIELD_INVALID.error("invalid field: reply_to is empty")
    _check_max(value, UPSTREAM_MSGID_MAX_BYTES, "reply_to")
    return value


def check_strings(node, where: str, err: Err = Err.FIELD_INVALID) -> None:
    """Refuse what no database stores (NUL, lone surrogates; see botadmin.jsontext)."""
    if problem := unstorable(node, where):
        raise err.error(f"{err.value[2]}: {problem}")


def _utf8_len(value: str) -> int:
    return len(value.encode("utf-8"))


def _check_max(value: str, limit: int, where: str) -> None:
    if _utf8_len(value) > limit:
        raise Err.FIELD_INVALID.error(f"{where} exceed max length {limit} bytes")


def _require(value: str, where: str) -> None:
    if not value.strip():
        raise Err.FIELD_INVALID.error(f"invalid field: {where} is empty", empty_field=where)


def _check_url(value: str, where: str) -> None:
    """A URL botadmin or a connector may download (a picture, a file): http(s) only."""
    _check_max(value, MAX_URL_BYTES, where)
    if not links.is_web_url(value):
        raise Err.FIELD_INVALID.error(f"invalid field: {where} must be an http(s) URL")


def _check_link_url(value: str, where: str) -> None:
    """What a click opens: also a bare host[/path] (`www.qq.com`), as WeCom's robot takes."""
    _check_max(value, MAX_URL_BYTES, where)
    if not links.is_link(value):
        raise Err.FIELD_INVALID.error(
            f"invalid field: {where} must be an http(s) URL or a host name with an optional "
            "path (www.example.com/page)"
        )


def _truncate(value: str, limit: int) -> str:
    """Cut to at most `limit` UTF-8 bytes without splitting a character."""
    return value.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def _check_text(payload: dict, limits: Limits, connector) -> None:
    content = payload.get("content", "")
    mentions = payload.get("mentioned_list") or payload.get("mentioned_mobile_list")
    if not content.strip():
        if not mentions:
            raise Err.EMPTY_CONTENT.error(
                "empty content: text.content is empty", empty_field="text.content"
            )
        if not connector.allows_mentions_only:
            raise Err.EMPTY_CONTENT.error(
                f"empty content: a {connector.english_label()} bot cannot send mentions without content"
            )
    _check_max(content, limits.text, "text.content")


def _check_markdown(msgtype: str):
    def check(payload: dict, limits: Limits, connector) -> None:
        if not payload.get("content", "").strip():
            raise Err.EMPTY_CONTENT.error(
                f"empty content: {msgtype}.content is empty", empty_field=f"{msgtype}.content"
            )
        _check_max(payload["content"], limits.markdown, f"{msgtype}.content")

    return check


def _check_link(payload: dict, limits: Limits, connector) -> None:
    _require(payload["title"], "link.title")
    payload["title"] = _truncate(payload["title"], limits.title)
    _check_link_url(payload["url"], "link.url")
    if "image_url" in payload:
        _check_url(payload["image_url"], "link.image_url")
    if "desc" in payload:
        payload["desc"] = _truncate(payload["desc"], limits.description)


_ASCII_WHITESPACE = str.maketrans("", "", " \t\n\r\f\v")


def _check_bytes(payload: dict, msgtype: str, max_bytes: int) -> bytes | None:
    """The decoded `base64` of an image or file (checked against its md5), None with a `url`."""
    if "url" in payload and "base64" in payload:
        raise _several_sources(msgtype)
    if "url" in payload:
        _check_url(payload["url"], f"{msgtype}.url")
    if "base64" not in payload:
        if "url" not in payload:
            media_id = "media_id, " if msgtype in ("file", "voice") else ""
            raise Err.FIELD_INVALID.error(
                f"invalid field: {msgtype} needs {media_id}url, or base64 and md5"
            )
        return None
    # MIME-style base64 (Python's base64.encodebytes, the `base64` command) breaks its
    # lines every 76 characters: the connectors get it without them, as WeCom wants it.
    payload["base64"] = payload["base64"].translate(_ASCII_WHITESPACE)
    try:
        raw = base64.b64decode(payload["base64"], validate=True)
    except (binascii.Error, ValueError):
        raise Err.FIELD_INVALID.error(f"invalid field: {msgtype}.base64 is not base64") from None
    if not raw:
        raise Err.FIELD_INVALID.error(f"invalid field: {msgtype}.base64 is empty")
    if len(raw) < MEDIA_MIN_BYTES:
        raise Err.FIELD_INVALID.error(
            f"invalid field: {msgtype} must be at least {MEDIA_MIN_BYTES} bytes"
        )
    if len(raw) > max_bytes:
        raise Err.FIELD_INVALID.error(f"{msgtype} exceed max size {max_bytes} bytes")
    md5 = payload.get("md5", "")
    if not md5:
        raise Err.FIELD_INVALID.error(f"invalid field: {msgtype}.md5 is missing")
    if md5.lower() != hashlib.md5(raw).hexdigest():  # noqa: S324 (WeCom's checksum)
        raise Err.MD5_MISMATCH.error()
    payload["md5"] = md5.lower()
    return raw


def _check_image(payload: dict, limits: Limits, connector) -> None:
    raw = _check_bytes(payload, "image", limits.image)
    if raw is not None and image_format(raw) not in connector.image_formats:
        raise Err.FIELD_INVALID.error(
            f"invalid field: image must be a {describe_formats(connector.image_formats)}"
        )


FILE_NAME_MAX_BYTES = 255


def _check_upload(payload: dict, msgtype: str, connector) -> bool:
    """A file or voice sent by the media_id of an upload: True once the upload is found
    (its md5, and a file's name unless given, join the body); False without a media_id."""
    if "media_id" not in payload:
        return False
    if "url" in payload or "base64" in payload:
        raise _several_sources(msgtype)
    if not payload["media_id"].strip():
        raise Err.MEDIA_MISSING.error(f"media_id missing: {msgtype}.media_id is empty")
    upload = live_upload(connector.bot, payload["media_id"], msgtype)
    payload["md5"] = upload.md5
    if msgtype == "file":
        payload.setdefault("name", upload.name)
    return True


def _several_sources(msgtype: str):
    # One source, or which one is sent would be the connector's choice (base64 it was).
    sources = (
        "url or base64, not both" if msgtype == "image" else "media_id, url or base64, not several"
    )
    return Err.FIELD_INVALID.error(f"invalid field: {msgtype} takes {sources}")


def _check_file(payload: dict, limits: Limits, connector) -> None:
    if not _check_upload(payload, "file", connector):
        _check_bytes(payload, "file", limits.file)
    if "name" in payload:
        _require(payload["name"], "file.name")
        _check_max(payload["name"], FILE_NAME_MAX_BYTES, "file.name")
        if any(c in payload["name"] for c in '/\\"\r\n'):
            raise Err.FIELD_INVALID.error('invalid field: file.name holds / \\ " or a line break')


def _check_voice(payload: dict, limits: Limits, connector) -> None:
    if _check_upload(payload, "voice", connector):
        return  # checked when it was uploaded
    raw = _check_bytes(payload, "voice", limits.voice)
    if raw is None:
        return  # by url: its bytes are checked when they are downloaded
    if not is_amr(raw):
        raise Err.FIELD_INVALID.error("invalid field: voice must be AMR (starting #!AMR)")
    if limits.voice_seconds and amr_seconds(raw, limits.voice_seconds) > limits.voice_seconds:
        raise Err.FIELD_INVALID.error(
            f"invalid field: voice longer than {limits.voice_seconds:g} seconds"
        )


def _check_miniprogram(payload: dict, limits: Limits, connector) -> None:
    for name in ("appid", "title", "page_path"):
        _require(payload[name], f"miniprogram.{name}")
    _check_max(payload["title"], limits.title, "miniprogram.title")
    for name in ("appicon", "thumb_url"):
        if name in payload:
            _check_url(payload[name], f"miniprogram.{name}")


def _check_news(payload: dict, limits: Limits, connector) -> None:
    for index, article in enumerate(payload["articles"]):
        where = f"news.articles.{index}"
        _require(article["title"], f"{where}.title")
        article["title"] = _truncate(article["title"], limits.title)
        _check_link_url(article["url"], f"{where}.url")
        if "picurl" in article:
            _check_url(article["picurl"], f"{where}.picurl")
        if "description" in article:
            article["description"] = _truncate(article["description"], limits.description)


def _check_template_card(payload: dict, limits: Limits, connector) -> None:
    if connector.card_types is not None and payload["card_type"] not in connector.card_types:
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.card_type: a {connector.english_label()} bot sends "
            f"{' and '.join(sorted(connector.card_types))} cards only"
        )
    if not connector.card_action_menus and payload.get("action_menu") is not None:
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.action_menu is not supported by the "
            f"{connector.english_label()}"
        )
    if payload["card_type"] in NOTICE_CARDS and not isinstance(payload.get("card_action"), dict):
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.card_action (an object) is required by a "
            f"{payload['card_type']} card"
        )
    if payload.get("task_id") == "":
        # An optional field left empty by the tool that wrote the body: WeCom refuses an
        # empty task_id (42014) where it would take none.
        del payload["task_id"]
    task_id = payload.get("task_id")
    # A click on the card or its action_menu comes back with the task_id (WeCom: 42014).
    if payload["card_type"] in INTERACTIVE_CARDS:
        needed_by = f"a {payload['card_type']} card"
    elif payload.get("action_menu") is not None:
        needed_by = "a card with an action_menu"
    else:
        needed_by = ""
    if needed_by and not (task_id or "").strip():
        raise Err.FIELD_INVALID.error(
            f"invalid field: template_card.task_id is required by {needed_by}"
        )
    if task_id is not None:
        _check_max(task_id, TASK_ID_MAX_BYTES, "template_card.task_id")
        if not well_formed_task_id(task_id):
            raise Err.FIELD_INVALID.error(
                "invalid field: template_card.task_id may hold only letters, digits, _, - and @"
            )
    title = payload.get("main_title")
    if isinstance(title, dict) and isinstance(title.get("title"), str):
        _check_max(title["title"], limits.title, "template_card.main_title.title")


_CHECKS = {
    "template_card": _check_template_card,
    "text": _check_text,
    "markdown": _check_markdown("markdown"),
    "markdown_v2": _check_markdown("markdown_v2"),
    "link": _check_link,
    "image": _check_image,
    "miniprogram": _check_miniprogram,
    "news": _check_news,
    "file": _check_file,
    "voice": _check_voice,
}

MAX_SCHEDULE_AHEAD = timedelta(days=366)


def parse_send_at(value) -> datetime | None:
    """`send_at` as ISO 8601 (naive: the server's TIME_ZONE) or Unix seconds; None if absent.

    A body's `send_at` of another JSON type (`true`, an object, `1.5`) is 40058 as the
    schema (`str | int`) words a wrong type; a string or integer it cannot read is 40035."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise wrong_type("send_at", "a string or an integer", value)
    when = None
    if isinstance(value, int) or _is_number(value):
        try:
            when = datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            when = None
    else:
        try:
            # RFC 3339 allows a lowercase t and z (2026-12-30t10:00:00z); Django reads
            # only the capitals, and ISO 8601 has no other letters a time could carry.
            when = parse_datetime(_offset_sign_restored(value.strip()).upper())
        except ValueError:
            when = None
        if when is not None and timezone.is_naive(when):
            when = timezone.make_aware(when)
    if when is None:
        raise Err.INVALID_PARAMETER.error(
            "invalid parameter: send_at must be ISO 8601 or Unix seconds"
        )
    if when > timezone.now() + MAX_SCHEDULE_AHEAD:
        raise Err.INVALID_PARAMETER.error("invalid parameter: send_at is more than a year ahead")
    return when


# A time followed by a space and an offset: "09:00:00 08:00" is how a query string's
# unencoded "+08:00" arrives ('+' means a space there). Nothing else reads so: a "-"
# offset arrives intact, and a space between date and time is followed by a date.
_SPACE_FOR_PLUS = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)$")


def _offset_sign_restored(value: str) -> str:
    return _SPACE_FOR_PLUS.sub(r"\1+\2", value)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip().replace(".", "", 1).isdigit()


def search_text(body: dict) -> str:
    """The words of a message that search finds: content, title, description."""
    payload = body.get(body.get("msgtype"), {}) if isinstance(body, dict) else {}
    if not isinstance(payload, dict):
        return ""
    parts = [payload.get(key) for key in ("content", "title", "desc", "description", "name")]
    for article in payload.get("articles") or []:
        if isinstance(article, dict):
            parts += [article.get("title"), article.get("description")]
    return "\n".join(str(part) for part in parts if part)
