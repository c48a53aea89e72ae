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
docs/api.md lists every connector's limits and conversions. A template card's checks
are in `messaging.template_cards`, the checks of one string field (length, URL,
emptiness) in `messaging.field_checks`, and `send_at` is read by `messaging.send_times`.
"""

import base64
import binascii
import hashlib

from pydantic import ValidationError

from botadmin.api import not_an_object
from botadmin.errors import Err
from botadmin.jsontext import unstorable
from connectors import conversions
from connectors.base import MEDIA_MIN_BYTES, Limits
from connectors.images import describe_formats, image_format
from connectors.registry import connector_for
from connectors.voice import amr_seconds, is_amr
from conversations.models import Bot

from .field_checks import check_link_url, check_max, check_url, require, truncate
from .field_errors import field_error, wrong_type
from .schemas import MSGTYPES, outbound_message
from .template_cards import check_template_card
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
    check_max(value, UPSTREAM_MSGID_MAX_BYTES, "reply_to")
    return value


def check_strings(node, where: str, err: Err = Err.FIELD_INVALID) -> None:
    """Refuse what no database stores (NUL, lone surrogates; see botadmin.jsontext)."""
    if problem := unstorable(node, where):
        raise err.error(f"{err.value[2]}: {problem}")


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
    check_max(content, limits.text, "text.content")


def _check_markdown(msgtype: str):
    def check(payload: dict, limits: Limits, connector) -> None:
        if not payload.get("content", "").strip():
            raise Err.EMPTY_CONTENT.error(
                f"empty content: {msgtype}.content is empty", empty_field=f"{msgtype}.content"
            )
        check_max(payload["content"], limits.markdown, f"{msgtype}.content")

    return check


def _check_link(payload: dict, limits: Limits, connector) -> None:
    require(payload["title"], "link.title")
    payload["title"] = truncate(payload["title"], limits.title)
    check_link_url(payload["url"], "link.url")
    if "image_url" in payload:
        check_url(payload["image_url"], "link.image_url")
    if "desc" in payload:
        payload["desc"] = truncate(payload["desc"], limits.description)


_ASCII_WHITESPACE = str.maketrans("", "", " \t\n\r\f\v")


def _check_bytes(payload: dict, msgtype: str, max_bytes: int) -> bytes | None:
    """The decoded `base64` of an image or file (checked against its md5), None with a `url`."""
    if "url" in payload and "base64" in payload:
        raise _several_sources(msgtype)
    if "url" in payload:
        check_url(payload["url"], f"{msgtype}.url")
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
        require(payload["name"], "file.name")
        check_max(payload["name"], FILE_NAME_MAX_BYTES, "file.name")
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
        require(payload[name], f"miniprogram.{name}")
    check_max(payload["title"], limits.title, "miniprogram.title")
    for name in ("appicon", "thumb_url"):
        if name in payload:
            check_url(payload[name], f"miniprogram.{name}")


def _check_news(payload: dict, limits: Limits, connector) -> None:
    for index, article in enumerate(payload["articles"]):
        where = f"news.articles.{index}"
        require(article["title"], f"{where}.title")
        article["title"] = truncate(article["title"], limits.title)
        check_link_url(article["url"], f"{where}.url")
        if "picurl" in article:
            check_url(article["picurl"], f"{where}.picurl")
        if "description" in article:
            article["description"] = truncate(article["description"], limits.description)


_CHECKS = {
    "template_card": check_template_card,
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
