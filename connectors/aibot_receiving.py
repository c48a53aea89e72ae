"""The AI bot session's reading of WeCom's frames and the storing of its callbacks.

Callbacks are read at once, written to the session's inbox journal before
anything else (`connectors/aibot_inbox.py`: it outlives a killed gateway) and
handed to a queue; one task per session stores them in order through the same
inbound service as `/api/callback` (dedupe by msgid, forwarding;
`connectors/aibot_inbound.py`). WeCom's protocol has no acknowledgement from
the client for a callback, so none is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, ProgrammingError

from . import aibot_inbound
from .wecom_aibot_frames import (
    DISCONNECTED_EVENT,
    RESPOND_UPDATE,
    FrameError,
    RepeatedKey,
    clicked_task_id,
    event_type,
    frame_body,
    frame_req_id,
    read_frame,
    reply_command,
)

logger = logging.getLogger(__name__)

# Reply windows remembered per session (msgid → callback req_id).
REPLY_WINDOWS_KEPT = 10_000
# A callback the database could not take is stored again after these waits (doubling).
STORE_RETRY_FIRST_SECONDS, STORE_RETRY_MAX_SECONDS = 0.5, 30.0


class Receiving:
    """BotSession's reading of frames and storing of callbacks (its state is set up in
    BotSession)."""

    async def _read(self, ws) -> None:
        try:
            await self._read_frames(ws)
        finally:
            self._fail_pending()

    async def _read_frames(self, ws) -> None:
        async for raw in ws:
            self.last_frame = time.monotonic()
            try:
                frame = read_frame(raw)
            except RepeatedKey as refused:  # before ValueError: it is one
                logger.warning(
                    "AI bot %s: a frame with %s refused (neither stored nor taken as an "
                    "ack): %.200s",
                    self.bot_id,
                    refused,
                    raw,
                )
                continue
            except ValueError:
                logger.warning("AI bot %s: a frame that is not JSON: %.200s", self.bot_id, raw)
                continue
            if not isinstance(frame, dict):
                continue
            # A field of another type than WeCom's is read as missing: a frame of no use is
            # logged and skipped, it does not end the connection (and the reading of the next).
            cmd = str(frame.get("cmd") or "")
            req_id = frame_req_id(frame)
            if self._is_ack(frame, cmd, req_id):
                future = self.pending.get(req_id)
                if future is not None and not future.done():
                    future.set_result(frame)
                continue
            if cmd == "aibot_event_callback" and event_type(frame) == DISCONNECTED_EVENT:
                await self._taken_over()
                return
            if cmd in ("aibot_msg_callback", "aibot_event_callback"):
                reply = reply_command(frame, settings.WECOM_AIBOT_REPLY_WINDOW_SECONDS)
                entry = (frame, time.time(), reply[1] if reply else None)
                if self.journal is not None:
                    self.journal.write(*entry)  # first: WeCom never sends it again
                self._remember_reply(frame, req_id, reply)
                self.inbox.put_nowait(entry)
                self.not_stored += 1
            else:
                logger.info("AI bot %s: frame %s ignored", self.bot_id, cmd)

    async def _taken_over(self) -> None:
        self.ended = "taken_over"  # recorded once the connection is closed (`_record_end`)
        logger.warning("AI bot %s: connection taken over by another client", self.bot_id)
        if self.ws is not None:
            await self.ws.close()

    def _remember_reply(self, frame: dict, req_id: str, reply: tuple[str, float] | None) -> None:
        msgid = str(frame_body(frame).get("msgid") or "")
        if not msgid or not req_id or reply is None:
            return
        command, seconds = reply
        task_id = clicked_task_id(frame_body(frame)) if command == RESPOND_UPDATE else ""
        self.replies[msgid] = (req_id, time.monotonic() + seconds, command, task_id)
        while len(self.replies) > REPLY_WINDOWS_KEPT:
            self.replies.popitem(last=False)

    async def _store_inbox(self) -> None:
        known: dict = {}
        while True:
            entry = await self.inbox.get()
            try:
                await self._store(*entry, known)
            finally:
                self.not_stored -= 1
                self.inbox.task_done()
            if self.inbox.empty() and self.journal is not None:  # the journal's all stored
                self.journal.all_stored()

    async def _store(self, frame: dict, received: float, window: float | None, known: dict) -> None:
        wait = STORE_RETRY_FIRST_SECONDS
        while True:
            try:
                if self.bot is None:
                    self.bot = await self.gateway.db(aibot_inbound.load_bot, self.bot_id)
                await self.gateway.db(
                    aibot_inbound.store_frame, self.bot, frame, received, window, known
                )
                return
            except FrameError as error:
                logger.warning("AI bot %s: callback not stored: %s", self.bot_id, error)
                return
            except (OperationalError, InterfaceError, ProgrammingError) as error:
                # The database is down, restarting or being migrated: WeCom does not
                # send the message again, so it waits here (and those after it, in order).
                logger.warning(
                    "AI bot %s: storing a callback failed (%s); trying again in %g s",
                    self.bot_id,
                    error.__class__.__name__,
                    wait,
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, STORE_RETRY_MAX_SECONDS)
            except Exception:
                logger.exception("AI bot %s: storing a callback failed", self.bot_id)
                return
