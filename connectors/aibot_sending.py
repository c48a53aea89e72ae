"""The AI bot session's sending: replies within a callback's window, proactive sends,
and media uploads.

Outbound frames (`deliver`) wait for WeCom's ack, at most `ACK_TIMEOUT`. A new
card's task_id is reserved for its message in the database first
(messaging/card_task_ids.py, shared by every gateway and kept across restarts);
one the bot already used (a clicked card's, another message's card) is
replaced by a fresh one (`card_task_ids.own_card`): WeCom wants them unique per bot.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time

import websockets
from django.db import Error as DatabaseError
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.reasons import Reason

from .aibot_link import NotAcknowledged, NotConnected
from .base import MEDIA_MIN_BYTES, media_word, too_small
from .conversions import markdown_to_text
from .filenames import upload_name
from .wecom_aibot_frames import RESPOND_UPDATE, RESPOND_WELCOME, card_update

# WeCom's errcodes for a req_id it no longer answers to: send proactively instead.
REPLY_GONE_ERRCODES = frozenset({846605, 846608})
# Sent by the media_id of a chunked upload (wecom-aibot.md: image, file, voice, video).
UPLOADED_MSGTYPES = ("image", "file", "voice")
UPLOAD_CHUNK_BYTES = 512 * 1024
UPLOAD_MAX_CHUNKS = 100


def not_sent(outcome: str, reason: str) -> dict:
    """The gateway's answer to a send WeCom did not acknowledge: the outcome, the English
    text (`errmsg`, for logs) and the reason as msgid and parameters (`reason`), which
    the connector stores so it reads in the operator's language."""
    return {"outcome": outcome, "errmsg": str(reason), "reason": reasons.as_json(reason)}


class Sending:
    """BotSession's sending (its state is set up in BotSession)."""

    async def deliver(self, request: dict) -> dict:
        """Send one message (the connector's request); the answer the connector classifies."""
        if not self.subscribed:
            not_connected = gettext_noop("the gateway is not connected to WeCom right now")
            return not_sent("retry", Reason(not_connected))
        body = request["body"]
        try:
            reply = self.replies.get(str(request.get("reply_to") or ""))
            uploaded = body["msgtype"] in UPLOADED_MSGTYPES
            if reply and reply[2] == RESPOND_UPDATE and body["msgtype"] != "template_card":
                reply = None  # only a card replaces the clicked card; anything else is sent
            if reply and time.monotonic() < reply[1] and not uploaded:
                req_id, _, command, task_id = reply
                # An update keeps the clicked card's task_id; a new card needs its own.
                sent = body if command == RESPOND_UPDATE else await self._own_task_id(body, request)
                answer = await self._respond(command, req_id, request["message_id"], sent, task_id)
                if answer.get("errcode") not in REPLY_GONE_ERRCODES:
                    return {**answer, "via": command}
            # Sent as a new card (a click's 5 s are over, or WeCom refused the update): a
            # task_id the bot already used, such as the clicked card's, is replaced.
            body = await self._own_task_id(body, request)
            wire = {
                "chatid": request["chatid"],
                "chat_type": 2 if request.get("chat_type") == "group" else 1,
                "msgtype": body["msgtype"],
            }
            if uploaded:
                media = body[body["msgtype"]]
                try:
                    media_id = await self._upload(
                        body["msgtype"], media["base64"], media.get("name")
                    )
                except NotAcknowledged as error:  # nothing reached the chat yet
                    upload = gettext_noop("media upload: %(reason)s")
                    return not_sent("retry", Reason(upload, reason=reasons.of(error)))
                if isinstance(media_id, dict):
                    return media_id  # the upload's refusal
                wire[body["msgtype"]] = {"media_id": media_id}
            else:
                wire[body["msgtype"]] = body[body["msgtype"]]
            answer = await self._request("aibot_send_msg", wire)
            return {**answer, "via": "aibot_send_msg"}
        except NotConnected as error:
            return not_sent("retry", reasons.of(error))
        except NotAcknowledged as error:
            return not_sent("uncertain", reasons.of(error))
        except websockets.ConnectionClosed as error:
            closed = gettext_noop("the connection closed before sending: %(error)s")
            return not_sent("retry", Reason(closed, error=str(error)))
        except DatabaseError as error:  # reserving the card's task_id: nothing was sent
            unavailable = gettext_noop("the database is unavailable: %(error)s")
            return not_sent("retry", Reason(unavailable, error=error.__class__.__name__))

    async def _own_task_id(self, body: dict, request: dict) -> dict:
        """The body, its card's task_id reserved for this message, or replaced by a fresh one
        when the bot already used it for a clicked card or another message's card
        (`card_task_ids.own_card`)."""
        from messaging import card_task_ids

        if body["msgtype"] != "template_card":  # no trip to the database's thread
            return body
        message_id = str(request["message_id"])
        return await self.gateway.db(card_task_ids.own_card, self.bot_id, body, message_id)

    async def _respond(
        self, command: str, req_id: str, message_id: str, body: dict, task_id: str = ""
    ) -> dict:
        if command == RESPOND_UPDATE:  # the clicked card, replaced for everyone who sees it
            reply = card_update(body["template_card"], task_id)
        elif body["msgtype"] == "template_card":
            reply = {"msgtype": "template_card", "template_card": body["template_card"]}
        elif command == RESPOND_WELCOME:  # a welcome message is text or a card, no stream
            reply = {
                "msgtype": "text",
                "text": {"content": markdown_to_text(body["markdown"]["content"])},
            }
        else:
            content = body["markdown"]["content"]
            reply = {
                "msgtype": "stream",
                "stream": {"id": message_id, "finish": True, "content": content},
            }
        lock = self.reply_locks.get(req_id)
        if lock is None:
            lock = self.reply_locks[req_id] = asyncio.Lock()
        async with lock:  # replies to one req_id go one after the other's ack
            return await self._request(command, reply, req_id=req_id)

    async def _upload(self, kind: str, data_base64: str, name: str | None = None) -> str | dict:
        data = base64.b64decode(data_base64)
        if len(data) < MEDIA_MIN_BYTES:  # WeCom's init refuses it (and an empty one has no chunk)
            return not_sent("failed", too_small(kind, len(data)))
        chunks = [data[i : i + UPLOAD_CHUNK_BYTES] for i in range(0, len(data), UPLOAD_CHUNK_BYTES)]
        if len(chunks) > UPLOAD_MAX_CHUNKS:
            too_large = gettext_noop("%(kind)s too large to upload")
            return not_sent("failed", Reason(too_large, kind=media_word(kind)))
        name = upload_name(data, kind, name or "")
        started = await self._request(
            "aibot_upload_media_init",
            {
                "type": kind,
                "filename": name,
                "total_size": len(data),
                "total_chunks": len(chunks),
                "md5": hashlib.md5(data).hexdigest(),  # noqa: S324 (WeCom's integrity check)
            },
        )
        upload_id = (started.get("body") or {}).get("upload_id")
        if started.get("errcode") or not upload_id:
            return _upload_refused("init", started)
        for index, chunk in enumerate(chunks):
            ack = await self._request(
                "aibot_upload_media_chunk",
                {
                    "upload_id": upload_id,
                    "chunk_index": index,
                    "base64_data": base64.b64encode(chunk).decode(),
                },
            )
            if ack.get("errcode"):
                return _upload_refused(f"chunk {index}", ack)
        finished = await self._request("aibot_upload_media_finish", {"upload_id": upload_id})
        media_id = (finished.get("body") or {}).get("media_id")
        if finished.get("errcode") or not media_id:
            return _upload_refused("finish", finished)
        return str(media_id)


def _upload_refused(stage: str, ack: dict) -> dict:
    # Nothing was sent to the chat yet. The connector's classify reads the errcode as a
    # send's (busy: again; 45009: after its minute; a bad type or size: failed); an ack
    # without one (no upload_id, no media_id) is tried again.
    refused = gettext_noop("media upload (%(stage)s): %(answer)s")
    answer = f"{ack.get('errcode')} {ack.get('errmsg', '')}".strip()
    return {
        **not_sent("retry", Reason(refused, stage=stage, answer=answer)),
        "errcode": ack.get("errcode"),
    }
