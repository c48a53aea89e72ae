"""WeCom's self-built application (自建应用): members and app chats (shared/spec/wecom-app.md).

A user conversation is a member (`message/send`, `touser`); a group
conversation is an app chat botadmin created (`appchat/send`, `chatid`).
WeCom has no idempotency key: a lost answer leaves the send `uncertain`.
A template card's task_id must be new to the app: delivery reserves it for the
message before `send` (`unique_card_task_ids`, messaging/card_task_ids.py).
Errcodes are classified as the spec's table says (`wecom_app_answers`); the ones that
stop every send (trusted IP, missing permission, bad secret, a disabled app) pause the bot
with a reason an operator can act on.
WeCom drops silently what passes its limits: the pace keeps the per-minute ones
(`conversation_gap`), delivery counts the daily ones (`daily_caps`) and holds a message
that would pass one until the next day, China time.

The bot's settings are `wecom_app_settings`; receiving (the encrypted callback) is
`wecom_app_callback`; the access token and media cache are `wecom_app_api`; the crypto
is `wecom_app_crypto`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from botadmin import http, http_failures, reasons
from botadmin.reasons import Reason, ngettext_noop

from . import wecom_app_api as api
from . import wecom_app_checklist
from .base import (
    MEDIA_MIN_BYTES,
    ChatIdTaken,
    Connector,
    ConnectorError,
    ContactPage,
    DailyCap,
    FetchedMedia,
    Limits,
    MediaGone,
    MediaRef,
    Outcome,
    SendRefused,
    SendResult,
    refuse_unsendable,
    too_large,
    unrepeatable_send_failure,
    wecom_unreachable,
)
from .downloads import download_media
from .filenames import attachment_name, upload_name
from .wecom_answers import MEDIA_ID_ERRCODE, wait_after
from .wecom_app_answers import (
    APPCHAT_GONE_ERRCODE,
    CHATID_EXISTS_ERRCODE,
    call_refusal,
    classify,
    media_errcode,
    read_failure,
    refused_connection,
    settings_problem,
    token_refusal,
)
from .wecom_app_contacts import VisibleRange, agent_list
from .wecom_app_crypto import generate_encoding_aes_key, generate_token
from .wecom_app_settings import WeComAppSettings, app_for

if TYPE_CHECKING:
    from conversations.models import Bot, Conversation

KIND = "wecom_app"
IMAGE_MAX_BYTES = 10 * 1024 * 1024
FILE_MAX_BYTES = 20 * 1024 * 1024
VOICE_MAX_BYTES = 2 * 1024 * 1024  # AMR only
# WeCom plays a voice message for at most 60 s, as a robot's upload_media says outright
# (shared/spec/wecom.md section 1): a longer one is refused before it is stored.
VOICE_MAX_SECONDS = 60
NEWS_MAX_ARTICLES = 8
# Sent by media_id after a media/upload of their bytes.
MEDIA_MSGTYPES = ("image", "file", "voice")
MEDIA_MAX_BYTES = {"image": IMAGE_MAX_BYTES, "file": FILE_MAX_BYTES, "voice": VOICE_MAX_BYTES}
# WeCom drops excess messages silently: ≤ 30 a minute and ≤ 1,000 an hour to
# one member (one every 3.6 s keeps both), ≤ 200 a minute to an app chat.
MEMBER_GAP_SECONDS = 3.6
APP_CHAT_GAP_SECONDS = 0.3
# And per WeCom day (China's calendar day): ≤ WECOM_APP_CHAT_DAILY_LIMIT (10,000) to a
# member of an app chat, ≤ licensed accounts × WECOM_APP_DAILY_SENDS_PER_ACCOUNT (200)
# person-messages from the app. Delivery counts both and holds what would pass them
# until the next day (messaging/delivery_caps.py).
WECOM_DAY_ZONE = "Asia/Shanghai"
CHINA_TIME = gettext_noop("China time")
# An app chat's cap: its `limit` is the number written with separators ("10,000"), its
# `count` the number that picks the form ("1 message").
CHAT_CAP = ngettext_noop(
    "WeCom's daily cap of %(limit)s message for this group chat",
    "WeCom's daily cap of %(limit)s messages for this group chat",
    "count",
)
# What holds stored before CHAT_CAP had a singular say ("… of 1 messages …"): kept so
# they translate. Their English stays as it was stored.
EARLIER_CHAT_CAP = gettext_noop("WeCom's daily cap of %(limit)s messages for this group chat")
# appchat/create's chatid (WeCom's document 90245): "最长32个字符。只允许字符0-9及字母a-zA-Z".
CHATID_PATTERN = re.compile(r"[0-9A-Za-z]{1,32}")


class WeComAppConnector(Connector):
    kind = KIND
    setup_guide = "connectors/guides/wecom_app.html"
    label = _("WeCom self-built app")
    summary = _(
        "Sends as one of your company's own apps to members and app chats, and receives "
        "what members send it; needs the corp ID, the app's secret and callback keys."
    )
    docs_section = "wecom-self-built-app-自建应用"
    field_docs = dict.fromkeys(
        ("corp_id", "agent_id", "app_secret", "callback_token", "encoding_aes_key"),
        "in-wecoms-admin-console",
    )
    native_msgtypes = frozenset(
        {"text", "markdown", "link", "news", "image", "file", "voice", "template_card"}
    )
    conversions = {
        "markdown_v2": ("markdown", "text"),
        "miniprogram": ("miniprogram_notice", "link"),
    }
    # message/send: text and markdown ≤ 2048 bytes; textcard title 128, description 512.
    limits = Limits(
        text=2048,
        markdown=2048,
        title=128,
        description=512,
        image=IMAGE_MAX_BYTES,
        file=FILE_MAX_BYTES,
        voice=VOICE_MAX_BYTES,
        voice_seconds=VOICE_MAX_SECONDS,
    )
    image_formats = frozenset({"JPEG", "PNG"})
    idempotent = False
    # 同一个应用任务id不能重复: one card to many members is a task_id each.
    unique_card_task_ids = True
    lists_contacts = True
    creates_groups = True
    default_rate_limit = 600
    settings_form = WeComAppSettings
    generated_settings = {
        "callback_token": generate_token,
        "encoding_aes_key": generate_encoding_aes_key,
    }

    def __init__(self, bot: Bot):
        super().__init__(bot)
        self.app = app_for(bot)
        self._visible_range: VisibleRange | None = None

    def msgtypes(self) -> frozenset[str]:
        """Mini program notices only where the operator says mini programs are linked."""
        if (self.bot.connector_settings or {}).get("miniprogram_notice"):
            return self.native_msgtypes | {"miniprogram_notice"}
        return self.native_msgtypes

    # The console shows a setup page for it (console/views/app_setup.py).
    setup_page = True
    # A received media_id works with media/get for 3 days.
    media_lifetime = timedelta(days=3)

    @staticmethod
    def callback_path(bot: Bot) -> str:
        """Where WeCom posts this bot's callbacks (to paste into the app's 接收消息 page)."""
        from django.urls import reverse

        return reverse("wecom_app_callback", args=[bot.pk])

    @staticmethod
    def setup_status(bot: Bot) -> dict:
        from .wecom_app_callback import last_status

        return last_status(bot.pk)

    def setup_checklist(self, last_test=None) -> list:
        return wecom_app_checklist.steps(
            self.bot, self.callback_path(self.bot), self.setup_status(self.bot), last_test
        )

    @classmethod
    def printed_settings(cls, bot: Bot) -> dict:
        """What `createbot` prints for the operator to paste into WeCom."""
        values = bot.connector_settings or {}
        return {
            "callback_url": cls.callback_path(bot),
            "callback_token": values.get("callback_token", ""),
            "encoding_aes_key": values.get("encoding_aes_key", ""),
        }

    @staticmethod
    def conversation_gap(kind: str) -> float:
        """Seconds between two messages to one conversation (WeCom's silent limits)."""
        return MEMBER_GAP_SECONDS if kind == "user" else APP_CHAT_GAP_SECONDS

    def daily_caps(self, conversation: Conversation) -> list[DailyCap]:
        """An app chat's: its messages of the day. WeCom's cap is per member (≤ 10,000 a day
        from the app, in all its chats); botadmin counts per chat, as it does not know who is
        in which chat, so a member of several busy app chats could still pass it. A member's:
        the app's person-messages (its recipients each); app chats do not count there."""
        if conversation.kind == "group":
            limit = settings.WECOM_APP_CHAT_DAILY_LIMIT
            chatid = quote(conversation.conversation_id, safe="")
            return [
                DailyCap(
                    key=f"{self._cap_key()}:chat:{chatid}",
                    limit=limit,
                    what=Reason(CHAT_CAP, limit=f"{limit:,}", count=limit),
                    zone=WECOM_DAY_ZONE,
                    zone_name=Reason(CHINA_TIME),
                )
            ]
        recipients = len([u for u in conversation.conversation_id.split("|") if u.strip()])
        return [replace(cap, uses=max(recipients, 1)) for cap in self.shared_daily_caps()]

    def shared_daily_caps(self) -> list[DailyCap]:
        """The app's person-messages a day, when the bot says how many accounts are licensed."""
        try:
            accounts = int((self.bot.connector_settings or {}).get("licensed_accounts") or 0)
        except (TypeError, ValueError):
            accounts = 0
        if accounts < 1:
            return []
        per_account = settings.WECOM_APP_DAILY_SENDS_PER_ACCOUNT
        app_cap = ngettext_noop(
            "WeCom's daily cap of %(limit)s person-messages for this app (%(accounts)s "
            "licensed account × %(per_account)s)",
            "WeCom's daily cap of %(limit)s person-messages for this app (%(accounts)s "
            "licensed accounts × %(per_account)s)",
            "accounts",
        )
        limit = accounts * per_account
        what = Reason(app_cap, limit=f"{limit:,}", accounts=accounts, per_account=per_account)
        return [DailyCap(self._cap_key(), limit, what, WECOM_DAY_ZONE, Reason(CHINA_TIME))]

    def _cap_key(self) -> str:
        """WeCom counts per app: bots sending as the same app share their counts."""
        return f"wecom_app:{quote(self.app.corp_id, safe='')}:{self.app.agent_id}"

    # --- sending -----------------------------------------------------------

    def send(self, message_id: str, conversation: Conversation, body: dict) -> SendResult:
        to_chat = conversation.kind == "group"
        try:
            wire = self.wire_body(body, to_chat)
        except SendRefused as refused:
            return refused.result
        except (KeyError, TypeError, ValueError) as error:
            unmapped = gettext_noop("cannot map the message for the app: %(error)s")
            return SendResult(Outcome.FAILED, Reason(unmapped, error=str(error)))
        if to_chat:
            wire["chatid"] = conversation.conversation_id
            return self._post("appchat/send", wire, body)
        wire["touser"] = conversation.conversation_id
        wire["agentid"] = self.app.agent_id
        return self._post("message/send", wire, body)

    def _post(self, path: str, wire: dict, body: dict) -> SendResult:
        result = self._call(path, wire)
        if result.errcode == MEDIA_ID_ERRCODE and wire["msgtype"] in MEDIA_MSGTYPES:
            # The media_id expired early: upload the bytes again, then send once more.
            try:
                content, kind, name = self._media_source(body)
                api.forget_media(self.app, kind, content, name)
                wire[wire["msgtype"]] = {"media_id": self._media_id(kind, content, name)}
            except SendRefused as refused:
                return refused.result
            result = self._call(path, wire)
        return result

    def _call(self, path: str, wire: dict) -> SendResult:
        try:
            response, answer = api.call(self.app, "POST", path, json=wire)
        except api.TokenError as error:
            return self._token_problem(error)
        except http.UnsafeURLError as error:
            return self._refused(error)
        except requests.RequestException as error:
            return unrepeatable_send_failure(error)
        return classify(response, answer, self.app.agent_id, wire.get("touser", ""))

    def _token_problem(self, error: api.TokenError) -> SendResult:
        if not error.reached and not error.refused:
            return SendResult(Outcome.RETRY, error.detail)
        result = SendResult(Outcome.RETRY, error.detail, errcode=error.errcode)
        result.account_problem = token_refusal(error, self.app.agent_id) or ""
        if error.errcode is not None:  # gettoken over its frequency limit: after its minute
            result.retry_after = wait_after(error.errcode)
        return result

    @staticmethod
    def _refused(error: http.UnsafeURLError) -> SendResult:
        """Nothing went out: the bot pauses until its settings change (its proxy); WeCom's
        own name not found is this server's DNS failing, tried again without a pause."""
        if isinstance(error, http.UnknownHost):
            return SendResult(Outcome.RETRY, wecom_unreachable(error))
        result = SendResult(Outcome.RETRY, reasons.of(error))
        result.account_problem = refused_connection(reasons.of(error))
        return result

    def wire_body(self, body: dict, to_chat: bool) -> dict:
        msgtype = body["msgtype"]
        payload = body[msgtype]
        if msgtype in ("text", "markdown"):
            return {"msgtype": msgtype, msgtype: {"content": payload["content"]}}
        if msgtype == "link":
            if payload.get("desc"):
                card = {
                    "title": payload["title"],
                    "description": payload["desc"],
                    "url": payload["url"],
                }
                return {"msgtype": "textcard", "textcard": card}
            article = {"title": payload["title"], "url": payload["url"]}
            if payload.get("image_url"):
                article["picurl"] = payload["image_url"]
            return {"msgtype": "news", "news": {"articles": [article]}}
        if msgtype == "news":
            articles = list(payload["articles"])[:NEWS_MAX_ARTICLES]
            return {"msgtype": "news", "news": {"articles": articles}}
        if msgtype in MEDIA_MSGTYPES:
            content, kind, name = self._media_source(body)
            return {"msgtype": msgtype, msgtype: {"media_id": self._media_id(kind, content, name)}}
        if msgtype == "template_card":
            if to_chat:
                no_card = gettext_noop(
                    "WeCom's app chats take no template_card: send it to members"
                )
                raise SendRefused(SendResult(Outcome.FAILED, Reason(no_card)))
            return {"msgtype": "template_card", "template_card": payload}
        if msgtype == "miniprogram_notice":
            if to_chat:  # app chats take no mini program notice: a link, if the page is one
                return self.wire_body(self._notice_as_link(payload), to_chat)
            return {"msgtype": "miniprogram_notice", "miniprogram_notice": payload}
        raise ValueError(f"msgtype {msgtype!r} is not sent by the app connector")

    @staticmethod
    def _notice_as_link(notice: dict) -> dict:
        page = notice.get("page", "")
        parts = urlsplit(page)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            no_notice = gettext_noop(
                "WeCom's app chats take no mini program notice, and its page is no web "
                "URL to link to instead"
            )
            raise SendRefused(SendResult(Outcome.FAILED, Reason(no_notice)))
        link = {"title": notice["title"], "url": page}
        if notice.get("description"):
            link["desc"] = notice["description"]
        return {"msgtype": "link", "link": link}

    def _media_source(self, body: dict) -> tuple[bytes, str, str]:
        """The bytes to upload, WeCom's media type and the file name."""
        msgtype = body["msgtype"]
        media = body[msgtype]
        name = str(media.get("name") or "")
        if media.get("base64"):
            try:
                content = base64.b64decode(media["base64"], validate=True)
            except (binascii.Error, ValueError):
                not_base64 = Reason(
                    gettext_noop("%(field)s is not base64"), field=f"{msgtype}.base64"
                )
                raise SendRefused(SendResult(Outcome.FAILED, not_base64)) from None
            return content, msgtype, upload_name(content, msgtype, name)
        content = download_media(
            media["url"], MEDIA_MAX_BYTES[msgtype], msgtype, min_bytes=MEDIA_MIN_BYTES
        )
        refuse_unsendable(msgtype, content, self.limits)
        return content, msgtype, upload_name(content, msgtype, name, media["url"])

    def _media_id(self, kind: str, content: bytes, name: str) -> str:
        cached = api.cached_media_id(self.app, kind, content, name)
        if cached:
            return cached
        try:
            response, answer = api.upload_media(self.app, kind, content, name)
        except api.TokenError as error:
            raise SendRefused(self._token_problem(error)) from None
        except http.UnsafeURLError as error:
            raise SendRefused(self._refused(error)) from None
        except requests.RequestException as error:
            # Nothing was sent to anyone yet: an upload is always safe to repeat.
            failed = Reason(
                gettext_noop("media upload failed: %(error)s"),
                error=http_failures.failure_reason(error),
            )
            raise SendRefused(SendResult(Outcome.RETRY, failed)) from None
        result = classify(response, answer, self.app.agent_id)
        if result.outcome != Outcome.SENT or not (answer or {}).get("media_id"):
            if result.outcome in (Outcome.SENT, Outcome.UNCERTAIN):
                result.outcome = Outcome.RETRY
            result.detail = Reason(gettext_noop("media upload: %(reason)s"), reason=result.detail)
            raise SendRefused(result)
        return str(answer["media_id"])

    def fetch_media(self, ref: MediaRef, max_bytes: int) -> FetchedMedia:
        """media/get of a received message's MediaId (the callback keeps it as `cdn`)."""
        try:
            response, answer = api.call(
                self.app, "GET", "media/get", params={"media_id": ref.cdn}, max_bytes=max_bytes + 1
            )
        except api.TokenError as error:
            raise read_failure(error, self.app.agent_id) from None
        except (http.UnknownHost, requests.RequestException) as error:
            raise ConnectorError(_unreachable("media/get", error)) from None
        except http.UnsafeURLError as error:  # the bot's proxy: to try again once it changes
            raise ConnectorError(refused_connection(reasons.of(error))) from None
        errcode = media_errcode(answer)
        if errcode:  # an error comes as JSON; the bytes come as they are
            detail = f"media/get: {errcode} {answer.get('errmsg', '')}"[:500]
            if errcode == MEDIA_ID_ERRCODE:
                raise MediaGone(detail)
            problem = settings_problem(errcode, str(answer.get("errmsg", "")), self.app.agent_id)
            raise ConnectorError(detail, account_problem=problem or "")
        if response.status != 200:
            answered = gettext_noop("media/get answered HTTP %(status)s")
            raise ConnectorError(Reason(answered, status=response.status))
        if response.truncated:
            raise MediaGone(too_large(max_bytes))
        return FetchedMedia(
            response.content,
            response.headers.get("Content-Type", ""),
            attachment_name(response.headers.get("Content-Disposition", "")),
        )

    # --- contacts and checks ---------------------------------------------------

    def _get(self, path: str, **kwargs) -> dict:
        """A read call's answer; raises ConnectorError on anything but errcode 0."""
        self.still_working()  # a page of the contact sync may take one call per member
        method = kwargs.pop("method", "GET")
        try:
            response, answer = api.call(self.app, method, path, **kwargs)
        except api.TokenError as error:
            raise read_failure(error, self.app.agent_id) from None
        except (http.UnknownHost, requests.RequestException) as error:
            # The exception's text holds the request URL, access token included.
            raise ConnectorError(_unreachable(path, error)) from None
        except http.UnsafeURLError as error:
            raise ConnectorError(refused_connection(reasons.of(error))) from None
        if answer is None:
            unexpected = Reason(gettext_noop("%(call)s: unexpected answer"), call=path)
            raise ConnectorError(unexpected, detail=response.excerpt(200))
        errcode = int(answer.get("errcode", 0) or 0)
        if errcode != 0:
            errmsg = str(answer.get("errmsg", ""))
            agent = self.app.agent_id
            problem = settings_problem(errcode, errmsg, agent) or ""
            error = ConnectorError(
                call_refusal(path, errcode, errmsg, agent), account_problem=problem
            )
            error.errcode = errcode
            raise error
        return answer

    def fetch_contacts(self, kind: str, cursor: str | None = None) -> ContactPage:
        """One page of the members in the app's visible range, or the app chats.

        The range is read once per sync (`wecom_app_contacts`). WeCom cannot list
        group chats: the groups are the app chats botadmin created, each still
        answered by appchat/get (one it no longer knows is left out).
        """
        if kind != "user":
            return ContactPage(items=self._app_chats(), next_cursor=None)
        if cursor is None or self._visible_range is None:
            self._visible_range = VisibleRange.read(self._get, self.app.agent_id)
        return self._visible_range.page(self._get, cursor)

    def _app_chats(self) -> list[dict]:
        items = []
        chats = self.bot.conversations.filter(kind="group").values_list("conversation_id", "name")
        for chatid, name in chats:
            try:
                info = self._get("appchat/get", params={"chatid": chatid}).get("chat_info") or {}
            except ConnectorError as error:
                if getattr(error, "errcode", None) == APPCHAT_GONE_ERRCODE:
                    continue
                raise
            members = info.get("userlist")
            items.append(
                {
                    "conversation_id": chatid,
                    "name": str(info.get("name") or name or chatid),
                    "member_count": len(members) if isinstance(members, list) else None,
                    "owner": info.get("owner"),
                }
            )
        return items

    def create_group(self, name: str, owner: str, members: list[str], chatid: str = "") -> str:
        """appchat/create: the new chat's id (it appears in clients after its first message);
        ChatIdTaken when `chatid` already names a chat."""
        if chatid and not CHATID_PATTERN.fullmatch(chatid):  # WeCom would refuse it (86001)
            bad = gettext_noop(
                "a chat ID is at most 32 letters (a–z, A–Z) and digits, as WeCom's "
                "appchat/create requires: %(chatid)s"
            )
            raise ConnectorError(Reason(bad, chatid=chatid[:64]))
        body = {"name": name, "owner": owner, "userlist": members}
        if chatid:
            body["chatid"] = chatid
        try:
            return str(self._get("appchat/create", method="POST", json=body)["chatid"])
        except ConnectorError as error:
            if chatid and getattr(error, "errcode", None) == CHATID_EXISTS_ERRCODE:
                raise ChatIdTaken(error.args[0], detail=error.detail) from None
            raise

    def check(self) -> str:
        """agent/get: checks the secret and the AgentId together, and says whether the app is
        enabled and whom it sees. Nothing is posted."""
        agent = self._get("agent/get", params={"agentid": self.app.agent_id})
        name = str(agent.get("name") or "")
        if agent.get("close"):
            disabled = gettext_noop(
                "the app %(name)s (agent %(agent)s) is disabled (停用) in WeCom's admin console: "
                "enable it, or it sends nothing"
            )
            disabled = Reason(disabled, name=name, agent=self.app.agent_id)
            raise ConnectorError(disabled, account_problem=disabled)  # no send can work
        works = gettext_noop(
            "the app %(name)s answers (corp %(corp)s, agent %(agent)s): enabled; visible to "
            "%(departments)s departments, %(members)s members and %(tags)s tags"
        )
        return Reason(
            works,
            name=name,
            corp=self.app.corp_id,
            agent=self.app.agent_id,
            departments=len(agent_list(agent, "allow_partys", "partyid")),
            members=len(agent_list(agent, "allow_userinfos", "user")),
            tags=len(agent_list(agent, "allow_tags", "tagid")),
        )


def _unreachable(call: str, error: http.UnknownHost | requests.RequestException) -> Reason:
    """Why a read call of the app's never got WeCom's answer (`http_failures`' words)."""
    unreachable = gettext_noop("cannot reach WeCom (%(call)s): %(error)s")
    return Reason(unreachable, call=call, error=http_failures.failure_reason(error))
