"""WeCom's AI bot (智能机器人) over its long connection (shared/spec/wecom-aibot.md).

The connection itself lives in the gateway process (`manage.py aibot_gateway`,
`connectors/aibot_gateway.py`): it subscribes, receives every message and
event, and holds the only socket WeCom allows per bot. Outbound messages are
still delivered by the delivery engine like every other connector's: `send`
hands the native body to the gateway that holds the bot's lease (its local
send endpoint, recorded in `BotConnection`), which writes the frame and
answers with WeCom's acknowledgement. With no gateway holding the bot the
message waits (`retry`) and its last error says why.

Proactive sends carry markdown, template cards, images, files and voice (AMR, ≤ 60 s;
plain `text` is refused by WeCom with 40008, so texts are sent as escaped
markdown); a message with `reply_to` goes out as a reply to that inbound
message while its reply window is open (the gateway decides, it knows the callback's req_id).
WeCom does not deduplicate: a lost answer leaves the send `uncertain`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import TYPE_CHECKING

import requests
from django import forms
from django.conf import settings
from django.core.validators import RegexValidator, URLValidator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from botadmin import http, reasons
from botadmin.forms import NoLabelSuffix
from botadmin.http_failures import failure_reason
from botadmin.reasons import Reason

from . import aibot_checklist
from .base import (
    MEDIA_MIN_BYTES,
    Connector,
    ConnectorError,
    FetchedMedia,
    Limits,
    MediaGone,
    MediaRef,
    Outcome,
    SendRefused,
    SendResult,
    StillConnecting,
    never_connected,
    refuse_unsendable_voice,
    too_large,
)
from .downloads import DownloadFailed, download, download_media
from .filenames import attachment_name, url_file_name
from .wecom_aibot_answers import push_refusal
from .wecom_aibot_frames import FrameError, decrypt_media
from .wecom_answers import AIBOT, wait_after

if TYPE_CHECKING:
    from conversations.models import Bot, Conversation

KIND = "wecom_aibot"
IMAGE_MAX_BYTES = 10 * 1024 * 1024
# Uploads: at most 100 chunks of 512 KB; WeCom's own SDKs keep files to 20 MB.
FILE_MAX_BYTES = 20 * 1024 * 1024
# aibot_send_msg markdown and stream content: at most 20,480 bytes. A text is
# escaped into markdown, which at worst doubles it.
MARKDOWN_MAX_BYTES = 20480
TEXT_MAX_BYTES = MARKDOWN_MAX_BYTES // 2
VOICE_MAX_BYTES = 2 * 1024 * 1024  # AMR, as the app's media/upload takes it
# WeCom's media/upload: a voice plays at most 60 s (the AI bot's upload takes the same media).
VOICE_MAX_SECONDS = 60
# Sent by the media_id of a chunked upload (aibot_upload_media_*).
MEDIA_MAX_BYTES = {"image": IMAGE_MAX_BYTES, "file": FILE_MAX_BYTES, "voice": VOICE_MAX_BYTES}
MSGTYPE_REFUSED = 40008
# WeCom's ack errcodes (every errcode ack means WeCom refused the frame: nothing
# reached the chat) are read by `wecom_answers.AIBOT`. wecom-aibot.md lists few;
# WeCom's global ones apply to the long connection's commands too (wecom-app.md,
# wecom.md): busy, too fast or too many at once is tried again, 45009 after its
# minute has passed, and an unknown media_id too (a fresh attempt uploads again).
# Any other errcode fails the message, errmsg kept: the documented ones (40008
# msgtype not allowed; 40035 / 40058 / 44004 invalid or empty field; on an upload
# WeCom's global 40004 / 40005 / 40006 / 40009 bad media type, type or size) can
# never succeed, and an undocumented one is treated alike rather than hold the
# conversation's queue through the whole retry schedule on a guess. An upload's
# refusal (aibot_upload_media_init / _chunk / _finish) is classified the same way.
# A refused card task_id (42014) fails too, saying what to do (`card_task_id_refused`),
# and so does a push refused with an errcode that says nothing: most likely the chat
# never talked to the bot (`wecom_aibot_answers.push_refusal`, WeCom's words kept).
# Waiting for the gateway: its own wait for WeCom's acks (5 s each), an upload's included.
GATEWAY_READ_TIMEOUT = 60.0
# The reason stored when the gateway answers something else than its JSON.
UNEXPECTED_GATEWAY_ANSWER = gettext_noop("unexpected gateway answer: %(answer)s")

_bot_id = RegexValidator(r"^[A-Za-z0-9_-]+$", _("Letters, digits, - and _ only."))


class WeComAIBotSettings(NoLabelSuffix, forms.Form):
    bot_id = forms.CharField(
        label=_("bot ID"),
        max_length=128,
        validators=[_bot_id],
        help_text=_(
            "The BotID WeCom shows for the AI bot: 管理后台 → 安全与管理 → 管理工具 → "
            "智能机器人 → the bot, in API 模式 with 长连接."
        ),
    )
    bot_secret = forms.CharField(
        label=_("bot secret"),
        max_length=256,
        widget=forms.PasswordInput,
        help_text=_("The Secret WeCom shows next to the BotID when the bot uses 长连接."),
    )
    ws_url = forms.CharField(
        label=_("long connection URL"),
        max_length=300,
        required=False,
        # Django's "Enter a valid URL." said nothing of the https:// URL it refused.
        validators=[
            URLValidator(
                schemes=["ws", "wss"],
                message=_(
                    "Enter a WebSocket URL: wss://host or ws://host, e.g. wss://openws.work.weixin.qq.com."
                ),
            )
        ],
        help_text=_("Empty: the server's WECOM_AIBOT_WS_URL."),
    )


def credentials(bot: Bot) -> tuple[str, str, str]:
    """(bot id, secret, WebSocket URL) the gateway subscribes with."""
    values = bot.connector_settings or {}
    url = str(values.get("ws_url") or "") or settings.WECOM_AIBOT_WS_URL
    return str(values.get("bot_id") or ""), str(values.get("bot_secret") or ""), url


class WeComAIBotConnector(Connector):
    kind = KIND
    holds_long_connection = True
    label = _("WeCom AI bot")
    summary = _(
        "WeCom's AI bot over its long connection: answers direct messages and group "
        "messages that @-mention it; needs the bot ID and secret, no public URL."
    )
    docs_section = "wecom-ai-bot-智能机器人-long-connection"
    field_docs = {"bot_id": "in-wecoms-admin-console-1", "bot_secret": "in-wecoms-admin-console-1"}
    native_msgtypes = frozenset({"markdown", "template_card", "image", "file", "voice"})
    conversions = {
        "text": ("markdown",),
        "markdown_v2": ("markdown",),
        "link": ("template_card",),
        "news": ("template_card",),
        "miniprogram": ("template_card",),
    }
    limits = Limits(
        text=TEXT_MAX_BYTES,
        markdown=MARKDOWN_MAX_BYTES,
        title=128,
        description=512,
        image=IMAGE_MAX_BYTES,
        file=FILE_MAX_BYTES,
        voice=VOICE_MAX_BYTES,
        voice_seconds=VOICE_MAX_SECONDS,
    )
    image_formats = frozenset({"JPEG", "PNG", "GIF"})
    idempotent = False
    lists_contacts = False
    default_rate_limit = 20
    settings_form = WeComAIBotSettings
    long_connection = True  # held by `manage.py aibot_gateway`
    replies = True
    # Callback media URLs work for about 5 minutes.
    media_lifetime = timedelta(minutes=5)

    def send(self, message_id: str, conversation: Conversation, body: dict) -> SendResult:
        from conversations import connections

        connection = connections.live(self.bot)
        if connection is None or not connection.endpoint:
            no_gateway = gettext_noop(
                "no AI bot gateway holds this bot's connection (is manage.py aibot_gateway running?)"
            )
            return SendResult(Outcome.RETRY, Reason(no_gateway))
        wire = dict(body)
        msgtype = body["msgtype"]
        if msgtype in MEDIA_MAX_BYTES:
            try:
                content, name = self._media_bytes(body)
            except SendRefused as refused:
                return refused.result
            wire[msgtype] = {"base64": base64.b64encode(content).decode(), "name": name}
        request = {
            "bot_id": self.bot.pk,
            "message_id": message_id,
            "reply_to": str(body.get("reply_to") or ""),
            "chatid": conversation.conversation_id,
            "chat_type": "group" if conversation.kind == "group" else "single",
            "body": wire,
        }
        try:
            response = http.request(
                "POST",
                connection.endpoint.rstrip("/") + "/send",
                json=request,
                headers={"Authorization": f"Bearer {connection.endpoint_token}"},
                connect_timeout=3,
                read_timeout=GATEWAY_READ_TIMEOUT,
                allow_private=True,  # our own gateway, on this host or the private network
            )
        except requests.ConnectionError as error:
            if never_connected(error):
                unreachable = gettext_noop("cannot reach the AI bot gateway: %(error)s")
                return SendResult(Outcome.RETRY, Reason(unreachable, error=failure_reason(error)))
            lost = gettext_noop("gateway connection lost: %(error)s")
            return SendResult(Outcome.UNCERTAIN, Reason(lost, error=failure_reason(error)))
        except requests.RequestException as error:
            no_answer = gettext_noop("no answer from the AI bot gateway: %(error)s")
            return SendResult(Outcome.UNCERTAIN, Reason(no_answer, error=failure_reason(error)))
        return self.classify(response, group=conversation.kind == "group")

    @staticmethod
    def classify(response: http.HttpResponse, group: bool = False) -> SendResult:
        """The gateway's answer to a send to a group chat (`group`) or a member."""
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            return SendResult(
                Outcome.UNCERTAIN,
                Reason(UNEXPECTED_GATEWAY_ANSWER, answer=response.excerpt(500)),
                http_status=response.status,
            )
        detail = str(answer.get("errmsg", ""))
        if answer.get("outcome") in {o.value for o in Outcome}:
            # The gateway says what happened when WeCom did not answer (not sent, lost ack),
            # or refused a media upload (its errcode, when WeCom gave one), and its reason as
            # msgid and parameters (aibot_sending.not_sent).
            reason = reasons.from_json(answer.get("reason"), detail)
            result = SendResult(Outcome(answer["outcome"]), reason, http_status=response.status)
            errcode = answer.get("errcode")
            if isinstance(errcode, int) and not isinstance(errcode, bool):
                result.errcode = errcode
                if errcode:  # WeCom refused the upload: its errcode decides, as a send's
                    result.outcome = AIBOT.outcome(errcode)
                    result.retry_after = wait_after(errcode)
            return result
        try:
            errcode = int(answer["errcode"])
        except (KeyError, TypeError, ValueError):
            return SendResult(
                Outcome.UNCERTAIN, Reason(UNEXPECTED_GATEWAY_ANSWER, answer=response.excerpt(500))
            )
        if errcode == 0:
            return SendResult(
                Outcome.SENT, "", errcode=0, upstream_msgid=str(answer.get("via", ""))
            )
        # A push WeCom refuses without saying why: most likely a chat it never talked to.
        why = push_refusal(str(answer.get("via", "")), errcode, detail, group)
        return AIBOT.refused(errcode, detail, why or f"{errcode} {detail}".strip())

    def _media_bytes(self, body: dict) -> tuple[bytes, str]:
        """An image's, file's or voice's bytes (its base64, or downloaded from its URL) and name."""
        msgtype = body["msgtype"]
        media = body[msgtype]
        name = str(media.get("name") or "")
        if media.get("base64"):
            try:
                return base64.b64decode(media["base64"], validate=True), name
            except (binascii.Error, ValueError):
                not_base64 = Reason(
                    gettext_noop("%(field)s is not base64"), field=f"{msgtype}.base64"
                )
                raise SendRefused(SendResult(Outcome.FAILED, not_base64)) from None
        name = name or url_file_name(media["url"])  # the bytes name it when it has none
        content = download_media(
            media["url"], MEDIA_MAX_BYTES[msgtype], msgtype, min_bytes=MEDIA_MIN_BYTES
        )
        if msgtype == "voice":  # not refuse_unsendable: WeCom's AI bot takes GIF images
            refuse_unsendable_voice(content, self.limits)
        return content, name

    def fetch_media(self, ref: MediaRef, max_bytes: int) -> FetchedMedia:
        """Download a callback's media and decrypt it with the message's own aeskey.

        The URL dies after about five minutes: an expired one (4xx) is gone for
        good; a busy one is tried again by the archive while it may still work.
        The file's name is the download's `Content-Disposition` (connectors/filenames.py).
        """
        url, _, fragment = ref.cdn.partition("#")
        aeskey = fragment or str(ref.fields.get("aeskey") or "")
        try:
            response = download(url, max_bytes + 1, connect_timeout=5, read_timeout=30)
        except DownloadFailed as failed:
            raise _media_failure(failed, max_bytes) from None
        try:
            plain = decrypt_media(response.content, aeskey)
        except FrameError as error:
            raise MediaGone(reasons.of(error)) from None
        # The download names the file (Tencent's SDK reads it there too); the callback does not.
        name = attachment_name(response.headers.get("Content-Disposition", ""))
        name = name or str(ref.fields.get("filename") or ref.fields.get("name") or "")
        return FetchedMedia(plain, "", name)  # the archive keeps it through safe_file_name

    def setup_checklist(self, last_test=None) -> list:
        return aibot_checklist.steps(self.bot, *credentials(self.bot))

    @classmethod
    def setting_defaults(cls) -> dict[str, tuple[str, str]]:
        return {"ws_url": (settings.WECOM_AIBOT_WS_URL, aibot_checklist.server_ws_url_note())}

    def check(self) -> str:
        from conversations import connections
        from conversations.models import BotConnection, gateway_process

        state = connections.status(self.bot)
        shown = reasons.label(BotConnection.State(state["state"]).label)
        if not state["held"]:
            if last_error := state.get("last_error"):
                why = gettext_noop("no AI bot gateway holds the connection (%(state)s): %(error)s")
                raise ConnectorError(Reason(why, state=shown, error=last_error))
            why = gettext_noop("no AI bot gateway holds the connection (%(state)s)")
            raise ConnectorError(Reason(why, state=shown))
        holder = gateway_process(state["holder"])
        if state["state"] == BotConnection.State.CONNECTING:
            # The gateway's first attempt since it took the bot (a new bot, new credentials):
            # WeCom usually accepts the subscription within seconds. A refusal or a failed
            # attempt leaves this state, and the test says why.
            why = gettext_noop(
                "held by %(holder)s and still connecting to WeCom (%(state)s): try again in a "
                "few seconds"
            )
            raise StillConnecting(Reason(why, holder=holder, state=shown))
        if state["state"] != BotConnection.State.CONNECTED:
            # A gateway holding the bot keeps retrying a connection WeCom never accepted.
            if last_error := state.get("last_error"):
                why = gettext_noop(
                    "held by %(holder)s but not connected to WeCom (%(state)s): %(error)s"
                )
                raise ConnectorError(Reason(why, holder=holder, state=shown, error=last_error))
            why = gettext_noop("held by %(holder)s but not connected to WeCom yet (%(state)s)")
            raise ConnectorError(Reason(why, holder=holder, state=shown))
        held = gettext_noop("held by %(holder)s (%(state)s)")
        return Reason(held, holder=holder, state=shown)


def _media_failure(failed: DownloadFailed, max_bytes: int) -> Exception:
    """A callback media's download that failed, in the AI bot's words: MediaGone when its
    URL will not work again (refused, too large, or expired: it lives ~5 minutes),
    ConnectorError when the archive's next try may still get it."""
    if isinstance(failed.error, http.UnsafeURLError):
        refused = gettext_noop("media URL refused: %(error)s")
        return MediaGone(Reason(refused, error=reasons.of(failed.error)))
    if failed.error is not None:
        not_downloaded = gettext_noop("download failed: %(error)s")
        return ConnectorError(Reason(not_downloaded, error=failed.error.__class__.__name__))
    if failed.oversize:
        return MediaGone(too_large(max_bytes))
    if failed.again:
        answered = gettext_noop("download answered HTTP %(status)s")
        return ConnectorError(Reason(answered, status=failed.status))
    expired = gettext_noop("WeCom answered HTTP %(status)s (the URL lives ~5 minutes)")
    return MediaGone(Reason(expired, status=failed.status))
