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

The bot's settings are `wecom_app_settings`; sending (the wire body, media uploaded for
its media_id) is `wecom_app_sending`; receiving (the encrypted callback) is
`wecom_app_callback`; the access token and media cache are `wecom_app_api`; the crypto
is `wecom_app_crypto`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from botadmin import http, http_failures, reasons
from botadmin.reasons import Reason, ngettext_noop

from . import wecom_app_api as api
from . import wecom_app_checklist
from .base import (
    ChatIdTaken,
    Connector,
    ConnectorError,
    ContactPage,
    DailyCap,
    FetchedMedia,
    Limits,
    MediaGone,
    MediaRef,
    SendResult,
    too_large,
)
from .filenames import attachment_name
from .wecom_answers import MEDIA_ID_ERRCODE
from .wecom_app_answers import (
    APPCHAT_GONE_ERRCODE,
    CHATID_EXISTS_ERRCODE,
    call_refusal,
    media_errcode,
    read_failure,
    refused_connection,
    settings_problem,
)
from .wecom_app_contacts import VisibleRange, agent_list
from .wecom_app_crypto import generate_encoding_aes_key, generate_token
from .wecom_app_sending import FILE_MAX_BYTES, IMAGE_MAX_BYTES, VOICE_MAX_BYTES, Sender
from .wecom_app_settings import WeComAppSettings, app_for

if TYPE_CHECKING:
    from conversations.models import Bot, Conversation

KIND = "wecom_app"
# WeCom plays a voice message for at most 60 s, as a robot's upload_media says outright
# (shared/spec/wecom.md section 1): a longer one is refused before it is stored.
VOICE_MAX_SECONDS = 60
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

    # --- sending (`wecom_app_sending`) ----------------------------------------

    def send(self, message_id: str, conversation: Conversation, body: dict) -> SendResult:
        return Sender(self.app, self.limits).send(conversation, body)

    def wire_body(self, body: dict, to_chat: bool) -> dict:
        return Sender(self.app, self.limits).wire_body(body, to_chat)

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
