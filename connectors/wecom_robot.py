"""WeCom's official group-robot webhook (shared/spec/wecom.md section 1).

Each group conversation carries its own robot key (Conversation.robot_key).
The robot API has no idempotency: a request that may have reached WeCom
before failing (read timeout, connection reset after sending, an answer we
cannot read) is reported as `uncertain`, never retried on its own.

A file or voice is sent by `media_id`: its bytes go to the robot's `upload_media`
first. An upload posts nothing to the group, so whatever happens to it the
message can be tried again; the media_id is reused for the same bytes and
robot until an hour before its 3 days end, and the bytes are uploaded again
when WeCom answers 40007 (it forgot the media_id early).

WeCom takes 20 messages a minute per robot, and each group has its own: delivery
keeps 3 s between two messages to one robot key (`conversation_gap`, `pace_key`),
while the bot's rate limit caps all its groups together.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from botadmin import http, http_failures, reasons
from botadmin.cache import best_effort
from botadmin.reasons import Reason

from .base import (
    MEDIA_MIN_BYTES,
    Connector,
    ConnectorError,
    ContactCheck,
    Limits,
    Outcome,
    SendRefused,
    SendResult,
    refuse_unsendable,
    unrepeatable_send_failure,
)
from .downloads import download_media
from .filenames import upload_name
from .multipart import media_form, upload_digest
from .wecom_answers import MEDIA_ID_ERRCODE, REFUSED_IN_FRONT_STATUSES, ROBOT, without_errcode
from .wecom_robot_check import KEY_OK_ERRCODE, check_groups, check_keys

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from conversations.models import Conversation

SEND_PATH = "/cgi-bin/webhook/send"
UPLOAD_PATH = "/cgi-bin/webhook/upload_media"
IMAGE_MAX_BYTES = 2 * 1024 * 1024
FILE_MAX_BYTES = 20 * 1024 * 1024
VOICE_MAX_BYTES = 2 * 1024 * 1024
VOICE_MAX_SECONDS = 60
# Sent by media_id after an upload_media of their bytes (type = the msgtype).
MEDIA_MSGTYPES = ("file", "voice")
# A media_id is valid 3 days; reuse it for the same bytes until an hour before.
MEDIA_REUSE_SECONDS = 3 * 24 * 3600 - 3600
NEWS_MAX_ARTICLES = 8
# What a card needs for clicks, which come back by callback, and a robot has none. Its
# template card documentation lists neither: an action_menu is refused when the message is
# accepted (`card_action_menus`), and a card stored before that refusal, or given a task_id
# for an app or AI bot, goes without them.
CLICKABLE_CARD_FIELDS = ("action_menu", "task_id")

# A robot's key is a UUID (shared/spec/wecom.md section 1), the end of its webhook address.
ROBOT_KEY_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
NOT_A_KEY = _(
    "This is no robot key: a key has 36 characters, such as "
    "693a91f6-7a3c-4bc4-97a0-0ec2b1fa5aaa, and ends the robot's webhook address "
    "(…/send?key=…)."
)
NO_KEY_IN_ADDRESS = _(
    "This address has no key: paste the robot's webhook address as WeCom shows it "
    "(…/cgi-bin/webhook/send?key=…), or just its key."
)
# A key check answered without WeCom's errcode: by something in front of WeCom, or not at all.
KEY_CHECK_NOT_WECOM = gettext_noop(
    "the key check was answered HTTP %(status)s without WeCom's errcode: a proxy or gateway "
    "in front of WeCom answered instead"
)
ROBOT_MESSAGES_PER_MINUTE = 20
# Each group has a robot of its own, so the limit is paced per robot key: one message
# every 3 s to a group keeps any minute at 20. The bot's own rate caps all its groups
# together and is not the robot's limit: set to it, 200 groups would share 20 a minute.
ROBOT_GAP_SECONDS = 60.0 / ROBOT_MESSAGES_PER_MINUTE


class WeComRobotConnector(Connector):
    kind = "wecom_robot"
    setup_guide = "connectors/guides/wecom_robot.html"
    label = _("WeCom group robot")
    summary = _(
        "Posts to group chats through each group's robot webhook key, entered per group "
        "after creating the bot; cannot receive messages."
    )
    docs_section = "wecom-group-robot"
    field_docs = {"robot_key": "a-groups-robot-key"}
    receives_messages = False
    native_msgtypes = frozenset(
        {"text", "markdown", "markdown_v2", "news", "image", "file", "voice", "template_card"}
    )
    # A robot has no callback for clicks: only the notice cards, without an action_menu.
    # Its documentation gives them no task_id (shared/spec/wecom.md section 1): `wire_body`
    # leaves one out, and `unique_card_task_ids` stays off.
    card_types = frozenset({"text_notice", "news_notice"})
    card_action_menus = False
    # The robot has no link message: a link is a news card with one article.
    # Mini programs it cannot send; one whose page is a web URL goes as a link.
    conversions = {"link": ("news",), "miniprogram": ("link",)}
    # WeCom's own news example links to "www.qq.com": the robot gets a link as written.
    opens_bare_links = True
    # shared/spec/wecom.md section 1.
    limits = Limits(
        text=2048,
        markdown=4096,
        title=128,
        description=512,
        image=IMAGE_MAX_BYTES,
        file=FILE_MAX_BYTES,
        voice=VOICE_MAX_BYTES,
        voice_seconds=VOICE_MAX_SECONDS,
    )
    image_formats = frozenset({"JPEG", "PNG"})
    allows_mentions_only = True
    idempotent = False
    lists_contacts = False
    enters_contacts = True  # each group with its robot key
    conversation_kinds = ("group",)  # a robot is added to a group chat; it has no one-to-one chats
    needs_robot_key = True
    # All the bot's groups together (each one is paced on its own: `conversation_gap`):
    # a robot bot's announcement goes to 600 groups a minute, one every 0.1 s.
    default_rate_limit = 600

    @classmethod
    def robot_key_from(cls, entered: str) -> str:
        """A robot's key, typed or pasted as the webhook address WeCom shows (…/send?key=…)."""
        key = entered.strip()
        if "?" in key or "://" in key:
            keys = parse_qs(urlsplit(key).query).get("key", [])
            if not keys:
                raise ValidationError(NO_KEY_IN_ADDRESS, code="robot_key")
            key = keys[0].strip()
        if not ROBOT_KEY_RE.fullmatch(key):
            raise ValidationError(NOT_A_KEY, code="robot_key")
        return key

    @staticmethod
    def conversation_gap(kind: str) -> float:
        """WeCom's 20 messages a minute per robot, as a gap between two to one group."""
        return ROBOT_GAP_SECONDS

    @staticmethod
    def pace_key(conversation: Conversation) -> str:
        """The robot key: two groups entered with one key share its 20 a minute."""
        if not conversation.robot_key:
            return Connector.pace_key(conversation)
        return f"robot-{_key_digest(conversation.robot_key)}"

    @staticmethod
    def base_url() -> str:
        return settings.WECOM_API_BASE.rstrip("/")

    def send(self, message_id: str, conversation: Conversation, body: dict) -> SendResult:
        if not conversation.robot_key:
            no_key = gettext_noop("conversation %(conversation)s has no robot key")
            return SendResult(Outcome.FAILED, Reason(no_key, conversation=str(conversation)))
        key = conversation.robot_key
        media = body["msgtype"] in MEDIA_MSGTYPES
        try:
            wire = self.media_body(key, body) if media else self.wire_body(body)
        except SendRefused as error:
            return error.result
        except (KeyError, TypeError, ValueError) as error:
            unmapped = gettext_noop("cannot map the message for the robot: %(error)s")
            return SendResult(Outcome.FAILED, Reason(unmapped, error=str(error)))
        result = self._post(key, wire)
        if media and result.errcode == MEDIA_ID_ERRCODE:
            # WeCom forgot the media_id early and posted nothing: upload again, send once more.
            try:
                wire = self.media_body(key, body, fresh=True)
            except SendRefused as error:
                return error.result
            result = self._post(key, wire)
        return result

    def _post(self, key: str, wire: dict, deadline: float | None = None) -> SendResult:
        try:
            response = http.request(
                "POST",
                self.base_url() + SEND_PATH,
                params={"key": key},
                json=wire,
                deadline=deadline,
            )
        except (http.UnsafeURLError, requests.RequestException) as error:
            return unrepeatable_send_failure(error)
        return self.classify(response)

    @staticmethod
    def classify(response: http.HttpResponse) -> SendResult:
        """WeCom's answer to a send or an upload (`wecom_answers`: what its errcodes mean)."""
        if response.status in REFUSED_IN_FRONT_STATUSES:
            return without_errcode(response)  # refused in front of WeCom: nothing was posted
        try:
            answer = response.json()
            errcode = int(answer["errcode"])
            errmsg = str(answer.get("errmsg", ""))
        except (ValueError, KeyError, TypeError):
            # WeCom always answers 200 with JSON; anything else may or may not have posted.
            return without_errcode(response)
        if errcode != 0:
            return ROBOT.refused(errcode, errmsg, http_status=response.status)
        return SendResult(Outcome.SENT, errmsg, http_status=response.status, errcode=errcode)

    def wire_body(self, body: dict) -> dict:
        msgtype = body["msgtype"]
        payload = body[msgtype]
        if msgtype == "template_card":
            card = {k: v for k, v in payload.items() if k not in CLICKABLE_CARD_FIELDS}
            return {"msgtype": msgtype, msgtype: card}
        if msgtype in ("text", "markdown", "markdown_v2"):
            return {"msgtype": msgtype, msgtype: dict(payload)}
        if msgtype == "news":
            articles = list(payload["articles"])[:NEWS_MAX_ARTICLES]
            return {"msgtype": "news", "news": {"articles": articles}}
        if msgtype == "image":
            if payload.get("base64"):  # WeCom's own form, checked when it was accepted
                return {
                    "msgtype": "image",
                    "image": {"base64": payload["base64"], "md5": payload["md5"]},
                }
            content = download_media(payload["url"], IMAGE_MAX_BYTES, "image")
            refuse_unsendable("image", content, self.limits)
            return {
                "msgtype": "image",
                "image": {
                    "base64": base64.b64encode(content).decode("ascii"),
                    "md5": hashlib.md5(content).hexdigest(),  # noqa: S324 (WeCom's checksum)
                },
            }
        raise ValueError(f"msgtype {msgtype!r} is not supported by a group robot")

    # --- media sent by media_id ---------------------------------------------------

    def media_body(self, key: str, body: dict, fresh: bool = False) -> dict:
        """The wire body of a file or voice: its bytes uploaded (or an earlier upload's media_id)."""
        msgtype = body["msgtype"]
        content, name = self.media_source(body)
        cache_key = _media_cache_key(key, msgtype, content, name)
        media_id = None if fresh else best_effort.get(cache_key)
        if not media_id:
            media_id = self.upload_media(key, msgtype, content, name)
            best_effort.set(cache_key, media_id, timeout=MEDIA_REUSE_SECONDS)
        return {"msgtype": msgtype, msgtype: {"media_id": media_id}}

    def media_source(self, body: dict) -> tuple[bytes, str]:
        """The bytes to upload and the file name recipients see."""
        msgtype = body["msgtype"]
        media = body[msgtype]
        name = str(media.get("name") or "")
        if media.get("base64"):  # checked (md5, size, AMR) when it was accepted
            try:
                content = base64.b64decode(media["base64"], validate=True)
            except (binascii.Error, ValueError):
                not_base64 = Reason(
                    gettext_noop("%(field)s is not base64"), field=f"{msgtype}.base64"
                )
                raise SendRefused.of(Outcome.FAILED, not_base64) from None
            return content, upload_name(content, msgtype, name)
        max_bytes = VOICE_MAX_BYTES if msgtype == "voice" else self.limits.file
        content = download_media(media["url"], max_bytes, msgtype, min_bytes=MEDIA_MIN_BYTES)
        refuse_unsendable(msgtype, content, self.limits)
        return content, upload_name(content, msgtype, name, media["url"])

    def upload_media(self, key: str, kind: str, content: bytes, name: str) -> str:
        """upload_media's media_id; raises SendRefused. Nothing reaches the group here, so
        every failure short of a final refusal is worth another try."""
        form, content_type = media_form(content, name)
        try:
            response = http.request(
                "POST",
                self.base_url() + UPLOAD_PATH,
                params={"key": key, "type": kind},
                data=form,
                headers={"Content-Type": content_type},
            )
        except http.UnknownHost as error:  # this server's DNS failing: nothing was sent
            failed = gettext_noop("media upload failed: %(error)s")
            raise SendRefused.of(Outcome.RETRY, Reason(failed, error=reasons.of(error))) from None
        except http.UnsafeURLError as error:
            raise SendRefused.of(Outcome.FAILED, reasons.of(error)) from None
        except requests.RequestException as error:
            failed = gettext_noop("media upload failed: %(error)s")
            reason = Reason(failed, error=http_failures.failure_reason(error))
            raise SendRefused.of(Outcome.RETRY, reason) from None
        result = self.classify(response)
        media_id = ""
        if result.outcome == Outcome.SENT:
            media_id = str(response.json().get("media_id") or "")
        if not media_id:
            if result.outcome in (Outcome.SENT, Outcome.UNCERTAIN):
                result.outcome = Outcome.RETRY
            result.detail = Reason(gettext_noop("media upload: %(reason)s"), reason=result.detail)
            raise SendRefused(result)
        return media_id

    def probe_key(self, key: str, deadline: float | None = None) -> int:
        """WeCom's errcode for a robot key, without posting anything.

        A request with an unknown msgtype is refused before anything is sent:
        40008 means the key works; 93000/93004/93008 that the robot is gone,
        disabled or out of the group. Raises ConnectorError when WeCom does not
        answer with an errcode (within `deadline` seconds, when given).
        """
        result = self._post(key, {"msgtype": "botadmin_connection_check"}, deadline)
        if result.errcode is not None:
            return result.errcode
        if result.http_status is None:  # not answered: our words say why (no answer's text)
            raise ConnectorError(result.detail)
        # Answered without WeCom's errcode (a proxy's page): its text is not for operators.
        no_errcode = Reason(KEY_CHECK_NOT_WECOM, status=result.http_status)
        raise ConnectorError(no_errcode, detail=result.detail[:200])

    def check_contacts(self, conversations: Sequence[Conversation]) -> Iterator[ContactCheck]:
        """Contact sync of the operator-entered groups: does each robot key still work?
        Asked PARALLEL at a time within BOTADMIN_ROBOT_KEY_SYNC_SECONDS; nothing is
        posted (`wecom_robot_check.check_groups`)."""
        keyed = []
        for conversation in conversations:
            if conversation.robot_key:
                keyed.append(conversation)
            else:
                yield ContactCheck(conversation, False)  # nothing to post through
        yield from check_groups(keyed, self.probe_key)

    def check(self) -> str:
        """Probe the keys of a sample of the active groups, within a bounded time;
        nothing is posted (`wecom_robot_check`)."""
        conversations = self.bot.conversations.filter(is_active=True).exclude(robot_key="")
        found = check_keys(conversations, self.probe_key, KEY_OK_ERRCODE)
        self.checked_contacts = found.checks
        if not found.ok:
            raise ConnectorError(found.reason)
        return found.reason


def _media_cache_key(key: str, kind: str, content: bytes, name: str) -> str:
    return f"wecom_robot:media:{_key_digest(key)}:{kind}:{upload_digest(content, name)}"


def _key_digest(key: str) -> str:
    """A robot key in cache keys: it is a credential, so only its hash goes there."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]
