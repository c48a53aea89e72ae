"""The callback URL of a WeCom app bot: `/api/wecom_app/<bot id>/callback`.

* GET is WeCom's URL check (saving the app's 接收消息 page): the signature
  over `echostr` is verified, the plaintext answered and nothing else.
* POST carries one encrypted message or event. It is verified (signature,
  receive id = the bot's corp id), turned into the seed's callback body and
  stored through the same inbound service as `/api/callback`, then answered
  with an empty 200 at once: WeCom waits 5 s and retries 3 times, so repeats
  are expected and dropped by their MsgId (events: sender + time + event + the
  rest of the event).
* Anything that fails verification is refused with 403 and stored nowhere; so is a
  verified message whose signed `timestamp` is further than
  WECOM_APP_CALLBACK_MAX_AGE_SECONDS from now: someone replaying a message they
  captured (WeCom's own repeats come within seconds), or this server's clock is wrong,
  which the setup page's status line then says. The URL check has no such limit: it
  changes nothing, and WeCom's sample checks are years old.
* Events from `sys` (WeCom itself: contact changes, batch job results) are about
  the corp, not a conversation: no conversation is made for them and nothing is
  stored or forwarded (the webhook carries the messages of conversations, as the
  AI bot's connection events are not forwarded either). A contact change, or a
  batch job that changed contacts, asks for a contact sync of the bot, once for a
  burst (`conversations.sync_requests.request_sync_after_change`).
* A member's `unsubscribe` (removed from the app's visible range, or gone from the
  corp) makes their conversation inactive, as a contact sync would; `subscribe`
  active again. Both are stored and forwarded like any event.

The bot id in the URL only finds the bot; the token and key prove the sender.
The outcome of the last URL check and the last callback is kept in the cache
for the bot's setup page.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import xml.etree.ElementTree as ET

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from botadmin.cache import best_effort
from botadmin.errors import ApiError
from botadmin.request_body import body_length
from conversations.models import Bot
from messaging import card_task_ids

from .wecom_app import KIND
from .wecom_app_crypto import MAX_BODY_BYTES, CallbackCrypto, CallbackCryptoError

logger = logging.getLogger(__name__)

STATUS_SECONDS = 30 * 24 * 3600
# Where WeCom's XML fields go in the seed body; the rest of a message stays raw.
_ENVELOPE = {"ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "AgentID"}
# What a person wrote, kept as written (an indented first line, a closing line break).
_WORDS = {"Content", "Title", "Description"}
# Elements an event repeats (a card's selected items and options, the pictures sent
# from a menu, a member's extra attributes): a list, also when there is one.
_REPEATED = {"SelectedItem", "OptionId", "item", "Item"}
# A card click's one-time code to update the card with, not part of what was clicked.
_NOT_IDENTIFYING = {"Event", "ResponseCode"}
MSGID_MAX_LENGTH = 128  # Message.upstream_msgid
# The sender of WeCom's own events (a contact change, a batch job's result).
SYSTEM_SENDER = "sys"
# Events about the corp, not a member, whatever their sender (WeCom's sample of
# batch_job_result names a placeholder instead of "sys").
CORP_EVENTS = frozenset({"change_contact", "batch_job_result"})
CONTACT_EVENTS = frozenset({"change_contact"})
# batch_job_result's JobType when the job changed members or departments (not invite_user).
CONTACT_JOB_TYPES = frozenset({"sync_user", "replace_user", "replace_party"})
# A member's events that say whether the app can reach them: sends to one who
# unsubscribed fail until they subscribe again.
REACHABLE_AFTER = {"subscribe": True, "unsubscribe": False}
# A click on a template card the app sent (its task_id is the app's: messaging/card_task_ids.py).
CARD_EVENT = "template_card_event"
# Received media: a reference to fetch with media/get within 3 days (the bytes
# are not fetched here: the media archive's worker asks WeComAppConnector.fetch_media).
MEDIA_REFERENCE = "wecom_app_media"


def crypto_for(bot: Bot) -> CallbackCrypto:
    values = bot.connector_settings or {}
    return CallbackCrypto(
        str(values.get("callback_token") or ""),
        str(values.get("encoding_aes_key") or ""),
        str(values.get("corp_id") or ""),
    )


def inbound_body(xml: str) -> dict:
    """The seed's callback body (bridge spec section 3) for a decrypted WeCom message."""
    root = ET.fromstring(xml)  # noqa: S314 (decrypted from a verified sender, no DTD)
    fields = _children(root, keep_spaces=_WORDS)

    def text(key: str) -> str:
        value = fields.get(key, "")
        return value if isinstance(value, str) else ""

    msgtype = text("MsgType") or "unknown"
    sender = text("FromUserName")
    body: dict = {
        "msgtype": msgtype,
        "conversation_id": sender,
        "conversation_type": "user",
        "sender": sender,
    }
    if text("CreateTime").isdigit():
        body["timestamp"] = int(text("CreateTime"))
    if text("MsgId"):
        body["msgid"] = text("MsgId")
    elif msgtype == "event":
        body["msgid"] = _event_id(sender, text("CreateTime"), text("Event"), fields)
    rest = {key: value for key, value in fields.items() if key not in _ENVELOPE}
    if msgtype == "text":
        body["text"] = {"content": text("Content")}
    elif msgtype == "image":
        body["image"] = {
            "cdn_type": MEDIA_REFERENCE,
            "cdn": text("MediaId"),
            "pic_url": text("PicUrl"),
        }
    elif msgtype == "link":
        body["link"] = {
            "title": text("Title"),
            "desc": text("Description"),
            "url": text("Url"),
            "image_url": text("PicUrl"),
        }
    else:  # voice, video, file, location, events: kept as WeCom sent them
        body[msgtype] = rest
        if text("MediaId"):  # voice, video, file: the archive fetches it like an image
            body[msgtype] = {**rest, "cdn_type": MEDIA_REFERENCE, "cdn": text("MediaId")}
    if text("AgentID"):
        body["agent_id"] = text("AgentID")
    return body


def _children(element: ET.Element, keep_spaces: frozenset | set = frozenset()) -> dict:
    """An element's children as a dict: text for a leaf, a dict for nested ones (the scan
    result, a card's selections), a list for a repeated one; WeCom uses no attributes."""
    grouped: dict[str, list] = {}
    for child in element:
        if len(child):
            value = _children(child)
        else:
            value = child.text or ""
            if child.tag not in keep_spaces:
                value = value.strip()
        grouped.setdefault(child.tag, []).append(value)
    return {
        tag: values if tag in _REPEATED or len(values) > 1 else values[0]
        for tag, values in grouped.items()
    }


def _event_id(sender: str, create_time: str, event: str, fields: dict) -> str:
    """An event's stand-in MsgId: equal for WeCom's repeats of it, different for two events.

    WeCom suggests sender + CreateTime, but one second holds several events from one
    sender: a member's card clicks, menu clicks and scans.
    """
    rest = {key: value for key, value in fields.items() if key not in _ENVELOPE | _NOT_IDENTIFYING}
    digest = hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:16]
    key = f"event:{sender}:{create_time}:{event}:{digest}"
    if len(key) > MSGID_MAX_LENGTH:
        return "event:" + hashlib.sha256(key.encode()).hexdigest()
    return key


# (bot, what) → (ok, monotonic time) last written by this process: a busy bot's
# callbacks do not each write the status to the cache (a database write with dbcache).
_last_noted: dict[tuple[int, str], tuple[bool, float]] = {}
NOTE_EVERY_SECONDS = 10.0


def _note(bot_id: int, what: str, ok: bool, detail: str = "") -> None:
    previous = _last_noted.get((bot_id, what))
    now = time.monotonic()
    if ok and previous and previous[0] and now - previous[1] < NOTE_EVERY_SECONDS:
        return
    _last_noted[(bot_id, what)] = (ok, now)
    # The status line is a convenience; the callback must not fail for it.
    best_effort.set(
        f"wecom_app:{what}:{bot_id}",
        {"at": timezone.now().isoformat(), "ok": ok, "detail": detail[:200]},
        timeout=STATUS_SECONDS,
    )


def last_status(bot_id: int) -> dict:
    """{"url_check": {...} | None, "callback": {...} | None} for the setup page."""
    return {
        what: best_effort.get(f"wecom_app:{what}:{bot_id}") for what in ("url_check", "callback")
    }


def _refuse(bot_id: int, what: str, detail: str) -> HttpResponse:
    _note(bot_id, what, False, detail)
    return HttpResponse("forbidden", status=403, content_type="text/plain")


@csrf_exempt
def callback(request: HttpRequest, bot_id: int) -> HttpResponse:
    bot = Bot.objects.filter(pk=bot_id, connector=KIND, is_active=True).first()
    if bot is None:
        return HttpResponse("not found", status=404, content_type="text/plain")
    try:
        crypto = crypto_for(bot)
    except ValueError:  # no key yet: nothing can be verified
        return _refuse(bot.pk, "url_check", "the bot has no valid EncodingAESKey")
    query = request.GET
    signature = query.get("msg_signature", "")
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if request.method == "GET":
        try:
            plain = crypto.verify_url(signature, timestamp, nonce, query.get("echostr", ""))
        except CallbackCryptoError as error:
            return _refuse(bot.pk, "url_check", str(error))
        _note(bot.pk, "url_check", True)
        # The plaintext alone: no quotes, no BOM, no newline.
        return HttpResponse(plain.encode(), content_type="text/plain; charset=utf-8")
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    if body_length(request, MAX_BODY_BYTES) > MAX_BODY_BYTES:
        return _refuse(bot.pk, "callback", "body too large")
    try:
        xml = crypto.decrypt_message(request.body, signature, timestamp, nonce)
        body = inbound_body(xml)
    except CallbackCryptoError as error:
        return _refuse(bot.pk, "callback", str(error))
    except ET.ParseError:
        return _refuse(bot.pk, "callback", "decrypted message is not XML")
    if problem := _timestamp_problem(timestamp):
        return _refuse(bot.pk, "callback", problem)
    if _is_about_the_corp(body):
        return _system_event(bot, body)
    return _store(bot, body)


def _timestamp_problem(timestamp: str) -> str:
    """Why a signed callback's `timestamp` (Unix seconds) is refused, or "" when it is
    within WECOM_APP_CALLBACK_MAX_AGE_SECONDS of now (either way: a clock ahead too)."""
    max_age = settings.WECOM_APP_CALLBACK_MAX_AGE_SECONDS
    if max_age <= 0:
        return ""
    if not timestamp.isascii() or not timestamp.isdigit():
        return "timestamp is not a number"
    age = time.time() - int(timestamp)
    if abs(age) <= max_age:
        return ""
    when = f"{int(age)} s old" if age > 0 else f"{int(-age)} s ahead"
    return (
        f"timestamp is {when}, more than {max_age} s: a replayed message, "
        "or this server's clock is wrong"
    )


def _is_about_the_corp(body: dict) -> bool:
    if body["msgtype"] != "event":
        return False
    event = body.get("event") if isinstance(body.get("event"), dict) else {}
    return body["sender"] == SYSTEM_SENDER or event.get("Event") in CORP_EVENTS


def _system_event(bot: Bot, body: dict) -> HttpResponse:
    from conversations.sync_requests import request_sync_after_change

    event = body.get("event") if isinstance(body.get("event"), dict) else {}
    name = str(event.get("Event") or "")
    job = event.get("BatchJob") if isinstance(event.get("BatchJob"), dict) else {}
    if name in CONTACT_EVENTS or job.get("JobType") in CONTACT_JOB_TYPES:
        request_sync_after_change(bot)
        logger.info("WeCom app bot %s: %s from sys; contact sync requested", bot.pk, name)
    else:
        logger.info("WeCom app bot %s: %s from sys ignored", bot.pk, name)
    _note(bot.pk, "callback", True, f"{name} ({body['sender']})")
    return HttpResponse(b"", content_type="text/plain")


def _store(bot: Bot, body: dict) -> HttpResponse:
    from messaging.inbound import parse_callback, record_inbound

    try:
        inbound = parse_callback(json.dumps(body, ensure_ascii=False).encode())
        if task_id := clicked_task_id(body):
            # Before the click is forwarded: a card answering it must not reuse its task_id.
            card_task_ids.seen_clicked(bot.pk, task_id)
        stored = record_inbound(bot, inbound)
    except ApiError as error:
        # Verified but not storable (e.g. a NUL character): WeCom's repeats cannot help.
        logger.warning("WeCom app callback for bot %s not stored: %s", bot.pk, error)
        _note(bot.pk, "callback", False, str(error))
        return HttpResponse(b"", content_type="text/plain")
    if stored is not None:  # not for a repeat, which may come after a newer event
        _record_reachable(bot, body)
    _note(bot.pk, "callback", True, body["msgtype"])
    return HttpResponse(b"", content_type="text/plain")


def clicked_task_id(body: dict) -> str:
    """The task_id of the card a `template_card_event` is about (its `TaskId`), or ""."""
    event = body.get("event") if body["msgtype"] == "event" else None
    if not isinstance(event, dict) or event.get("Event") != CARD_EVENT:
        return ""
    task_id = event.get("TaskId")
    return task_id if isinstance(task_id, str) else ""


def _record_reachable(bot: Bot, body: dict) -> None:
    from conversations.activity import record_reachable

    event = body.get("event") if body["msgtype"] == "event" else None
    reachable = REACHABLE_AFTER.get(event.get("Event")) if isinstance(event, dict) else None
    if reachable is not None:
        record_reachable(bot, body["conversation_id"], reachable=reachable)
