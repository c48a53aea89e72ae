"""Sending as a self-built app (shared/spec/wecom-app.md): a message to a member
(`message/send`, `touser`) or an app chat (`appchat/send`, `chatid`).

`Sender` turns the body into WeCom's (`wire_body`: a link with a description is a
`textcard`, news keeps its first NEWS_MAX_ARTICLES articles, a mini program notice
to an app chat becomes a link), uploads an image, file or voice with media/upload
for its media_id (kept by `wecom_app_api` for the same bytes; uploaded again and
sent once more when WeCom says it expired early), posts it and classifies WeCom's
answer (`wecom_app_answers.classify`). `WeComAppConnector.send` calls it.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from django.utils.translation import gettext_noop

from botadmin import http, http_failures, reasons
from botadmin.reasons import Reason

from . import wecom_app_api as api
from .base import (
    MEDIA_MIN_BYTES,
    Outcome,
    SendRefused,
    SendResult,
    refuse_unsendable,
    unrepeatable_send_failure,
    wecom_unreachable,
)
from .downloads import download_media
from .filenames import upload_name
from .wecom_answers import MEDIA_ID_ERRCODE, wait_after
from .wecom_app_answers import classify, refused_connection, token_failure, token_refusal

if TYPE_CHECKING:
    from conversations.models import Conversation

    from .base import Limits

IMAGE_MAX_BYTES = 10 * 1024 * 1024
FILE_MAX_BYTES = 20 * 1024 * 1024
VOICE_MAX_BYTES = 2 * 1024 * 1024  # AMR only
NEWS_MAX_ARTICLES = 8
# Sent by media_id after a media/upload of their bytes.
MEDIA_MSGTYPES = ("image", "file", "voice")
MEDIA_MAX_BYTES = {"image": IMAGE_MAX_BYTES, "file": FILE_MAX_BYTES, "voice": VOICE_MAX_BYTES}


class Sender:
    """One message sent as the app: its wire body, its media uploaded, WeCom's answer."""

    def __init__(self, app: api.App, limits: Limits):
        self.app = app
        self.limits = limits

    def send(self, conversation: Conversation, body: dict) -> SendResult:
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
        refusal = token_refusal(error, self.app.agent_id)
        # The attempt keeps WeCom's answer; the pause, when there is one, says what to do.
        detail = error.detail if refusal else token_failure(error, self.app.agent_id)
        result = SendResult(Outcome.RETRY, detail, errcode=error.errcode)
        result.account_problem = refusal or ""
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
