"""The fake AI bot server's answers to a subscribed connection's commands: sends, replies,
welcomes, card updates, uploads and pings, each checked as WeCom would
(devtools/fake_wecom_aibot_checks.py). What it takes and refuses is described in
devtools/fake_wecom_aibot.py, the server it is part of.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
import uuid

import websockets

from devtools import fake_wecom_aibot_checks as checks
from devtools.fake_wecom_app import card_task_id

# What aibot_send_msg takes (plain text is refused with 40008); media by an upload's media_id.
MEDIA_MSGTYPES = checks.MEDIA_MSGTYPES
SEND_MSGTYPES = ("markdown", "template_card", *MEDIA_MSGTYPES)
# WeCom's words for the errcodes tests force (its global errcode table).
FORCED_ERRMSGS = {
    -1: "system busy",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    40058: "invalid parameter",
    # Uploads (WeCom's global errcodes for media).
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid file size",
    40009: "invalid image size",
}
UPLOAD_STAGES = ("init", "chunk", "finish")
TASK_ID_REFUSED = (42014, "taskid has existed or empty or exceed max len")
CREDENTIALS_REFUSED = (853000, "invalid bot_id or secret")
MEDIA_ID_REFUSED = (40007, "invalid media_id")
# The command the frame being answered carried (for `ack_with_cmd`).
answering_command: contextvars.ContextVar[str] = contextvars.ContextVar("answering", default="")


class Commands:
    """FakeAIBotServer's answers (its state is set up in FakeAIBotServer)."""

    async def _late_ack(self, ws, req_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await self._ack(ws, req_id)
        except websockets.ConnectionClosed:
            pass

    def _check_media(self, bot_id: str, body: dict) -> tuple[int, str] | None:
        """A media message's media_id must come from an upload of that type by this bot."""
        msgtype = body.get("msgtype")
        if msgtype not in MEDIA_MSGTYPES:
            return None
        media_id = (body.get(msgtype) or {}).get("media_id")
        with self.lock:
            upload = next((u for u in self.uploads.values() if u.get("media_id") == media_id), None)
        if upload is None or upload["type"] != msgtype or upload["bot"] != bot_id:
            return MEDIA_ID_REFUSED
        return None

    def _upload(self, bot_id: str, stage: str, body: dict) -> tuple:
        """An upload frame's answer: (errcode, errmsg[, ack body])."""
        if stage == "init":
            if refused := checks.check_upload_init(body):
                return refused
            upload_id = uuid.uuid4().hex
            with self.lock:
                self.uploads[upload_id] = {**body, "bot": bot_id, "chunks": {}}
            return 0, "ok", {"upload_id": upload_id}
        upload = self.uploads.get(str(body.get("upload_id") or ""))
        if upload is None or upload["bot"] != bot_id:
            return checks.invalid("upload_id")
        if stage == "chunk":
            index, data = checks.chunk_bytes(upload, body)
            if isinstance(data, str):
                return index, data
            upload["chunks"][index] = data
            return 0, "ok"
        if stage != "finish":
            return 40008, f"unknown cmd aibot_upload_media_{stage}"
        data = checks.upload_data(upload)
        if isinstance(data, tuple):
            return data
        upload["data"] = data
        upload["media_id"] = f"media_{body['upload_id']}"
        return 0, "ok", {"type": upload["type"], "media_id": upload["media_id"]}

    async def _ack(self, ws, req_id: str, errcode: int = 0, errmsg: str = "ok", body=None):
        answer = {"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": errmsg}
        if self.ack_with_cmd and answering_command.get():
            answer = {"cmd": answering_command.get(), **answer}
        if body is not None:
            answer["body"] = body
        text = json.dumps(answer)
        answering = answering_command.get()
        if self.ack_repeating and answering.startswith(("aibot_send_msg", "aibot_respond_")):
            key, value = self.ack_repeating
            text = f"{text[:-1]}, {json.dumps(key)}: {json.dumps(value)}}}"
        await ws.send(text)

    @staticmethod
    def _task_id(body: dict) -> str:
        card = body.get("template_card")
        return str(card.get("task_id") or "") if isinstance(card, dict) else ""

    def _accept(self, bot_id: str, cmd: str, body: dict) -> None:
        """Record an accepted send or reply; its card's task_id is the bot's from now on."""
        with self.lock:
            self.sent.append((bot_id, cmd, body))
            if task_id := self._task_id(body):
                self.task_ids.setdefault(bot_id, set()).add(task_id)

    async def _command(self, ws, bot_id: str, cmd: str, req_id: str, body: dict) -> None:
        if (forced := self._forced_errcode(cmd)) is not None:
            await self._ack(ws, req_id, forced, FORCED_ERRMSGS.get(forced, "forced by the test"))
            return
        new_card = cmd in ("aibot_send_msg", "aibot_respond_msg", "aibot_respond_welcome_msg")
        task_id = card_task_id(body) if new_card else None
        if task_id is not None and (not task_id or task_id in self.task_ids.get(bot_id, ())):
            await self._ack(ws, req_id, *TASK_ID_REFUSED)
            return
        if cmd == "ping":
            if self.answer_pings and self.ping_delay:
                late = asyncio.create_task(self._late_ack(ws, req_id, self.ping_delay))
                self._late_acks.add(late)
                late.add_done_callback(self._late_acks.discard)
            elif self.answer_pings:
                errmsg = FORCED_ERRMSGS.get(self.ping_errcode, "forced by the test")
                await self._ack(
                    ws, req_id, self.ping_errcode, errmsg if self.ping_errcode else "ok"
                )
        elif cmd == "aibot_send_msg":
            msgtype = body.get("msgtype")
            if msgtype not in SEND_MSGTYPES:
                await self._ack(ws, req_id, 40008, "invalid message type")
                return
            if refused := checks.check_send(body) or self._check_media(bot_id, body):
                await self._ack(ws, req_id, *refused)
                return
            self._accept(bot_id, cmd, body)
            if not self.silent_sends:
                await self._ack(ws, req_id)
        elif cmd == "aibot_respond_msg":
            with self.lock:
                sent_at = self.callback_req_ids.get(id(ws), {}).get(req_id)
                entered_at = self.welcome_req_ids.get(id(ws), {}).get(req_id)
            window = self.reply_seconds
            if body.get("msgtype") == "template_card" and sent_at is None:
                # A card may answer enter_chat too, within enter_chat's own 5 s.
                sent_at, window = entered_at, self.welcome_seconds
            if sent_at is None or time.time() - sent_at > window:
                await self._ack(ws, req_id, 846605, "invalid req_id")
                return
            if refused := checks.check_reply(body) or self._check_media(bot_id, body):
                await self._ack(ws, req_id, *refused)
                return
            self._accept(bot_id, cmd, {"req_id": req_id, **body})
            if not self.silent_replies:
                await self._ack(ws, req_id)
        elif cmd == "aibot_respond_welcome_msg":
            with self.lock:
                entered_at = self.welcome_req_ids.get(id(ws), {}).get(req_id)
            if entered_at is None or time.time() - entered_at > self.welcome_seconds:
                await self._ack(ws, req_id, 846605, "invalid req_id")
                return
            if body.get("msgtype") not in ("text", "template_card"):
                await self._ack(ws, req_id, 40008, "invalid message type")
                return
            if refused := checks.check_card(body):
                await self._ack(ws, req_id, *refused)
                return
            self._accept(bot_id, cmd, {"req_id": req_id, **body})
            await self._ack(ws, req_id)
        elif cmd == "aibot_respond_update_msg":
            with self.lock:
                clicked = self.card_req_ids.get(id(ws), {}).get(req_id)
            if clicked is None or time.time() - clicked[0] > self.update_seconds:
                await self._ack(ws, req_id, 846605, "invalid req_id")
                return
            card = body.get("template_card")
            if body.get("response_type") != "update_template_card" or not isinstance(card, dict):
                await self._ack(ws, req_id, 40058, "invalid parameter: update_template_card")
                return
            if refused := checks.check_card(body):
                await self._ack(ws, req_id, *refused)
                return
            if card.get("task_id") != clicked[1]:
                await self._ack(ws, req_id, 40058, "invalid parameter: task_id")
                return
            self._accept(bot_id, cmd, {"req_id": req_id, **body})
            await self._ack(ws, req_id)
        elif cmd.startswith("aibot_upload_media_"):
            answer = self._upload(bot_id, cmd.removeprefix("aibot_upload_media_"), body)
            await self._ack(ws, req_id, *answer[:2], body=answer[2] if len(answer) > 2 else None)
        else:
            await self._ack(ws, req_id, 40008, f"unknown cmd {cmd}")
