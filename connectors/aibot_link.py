"""The AI bot session's side of the WebSocket: commands and their acks, and the heartbeat.

A command (`_request`) is written with a req_id and waits for the frame answering it
(`_is_ack`), at most ACK_TIMEOUT. Pings go out on a fixed timer and their acks are
read whenever they come; MISSED_PINGS_LIMIT of them unanswered and the connection
is taken for dead (`connectors/aibot_session.py` reconnects).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from django.conf import settings
from django.utils.translation import gettext_noop

from botadmin.reasons import Reason

logger = logging.getLogger(__name__)

ACK_TIMEOUT = 5.0  # what Tencent's SDK waits for an ack
# Pings sent in a row without any ack: at the next tick the connection is taken for dead
# (with 30 s pings, 60-90 s after the last ack; Tencent's SDK counts the same way).
MISSED_PINGS_LIMIT = 2
# What WeCom pushes; any other frame answering an awaited req_id is that request's ack.
CALLBACK_COMMANDS = frozenset({"aibot_msg_callback", "aibot_event_callback"})


def new_req_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class NotAcknowledged(Exception):
    """The frame was written but WeCom's ack did not come in time (or the connection dropped)."""


class NotConnected(Exception):
    """Nothing was written: there is no subscribed connection right now."""


class ConnectionDead(Exception):
    """WeCom answered none of the last MISSED_PINGS_LIMIT pings: the connection was dropped
    on our side, without waiting for a close WeCom would not answer either."""


class Link:
    """BotSession's commands, acks and heartbeat (its state is set up in BotSession)."""

    async def _send(self, frame: dict) -> None:
        if self.ws is None:
            raise NotConnected(Reason(gettext_noop("not connected to WeCom")))
        await self.ws.send(json.dumps(frame, ensure_ascii=False))

    async def _request(
        self, cmd: str, body: dict | None, timeout: float | None = None, req_id: str = ""
    ) -> dict:
        """Write a command and wait for its ack (the frame answering its req_id, `_is_ack`)."""
        timeout = timeout or ACK_TIMEOUT
        req_id = req_id or new_req_id(cmd)
        future = asyncio.get_running_loop().create_future()
        self.pending[req_id] = future
        frame: dict = {"cmd": cmd, "headers": {"req_id": req_id}}
        if body is not None:
            frame["body"] = body
        try:
            await self._send(frame)
            # Not `asyncio.wait_for`: on Python 3.11 it swallows a cancel that comes as the ack
            # fails (the connection closing), so a stopped session went on reconnecting and
            # the gateway waiting for it hung (gh-86296, fixed in 3.12).
            try:
                async with asyncio.timeout(timeout):
                    return await future
            except TimeoutError:
                no_ack = gettext_noop("no ack from WeCom within %(seconds)s s")
                raise NotAcknowledged(Reason(no_ack, seconds=f"{timeout:g}")) from None
        finally:
            self.pending.pop(req_id, None)

    def _is_ack(self, frame: dict, cmd: str, req_id: str) -> bool:
        """An ack has no cmd (wecom-aibot.md); one that names a command anyway (its own or
        another) still answers an awaited req_id when it carries an errcode. Only a
        callback is never an ack: a reply is sent with the req_id of the callback it answers."""
        if cmd in ("", "pong"):
            return True
        return req_id in self.pending and "errcode" in frame and cmd not in CALLBACK_COMMANDS

    async def _heartbeat(self, ws) -> None:
        """Ping on a fixed timer, whether the last ping was answered or not; when
        MISSED_PINGS_LIMIT pings in a row are still unanswered at the next tick, drop the
        connection (the run loop reconnects). Any ping's ack with errcode 0 means the connection
        lives.

        The connection is aborted, not closed: a WeCom that answered no ping does not answer a
        close either, and waiting for it (websockets' 10 s) would only hold the reconnect up.
        Tencent's SDK does the same (`terminate()`)."""
        interval = settings.WECOM_AIBOT_HEARTBEAT_SECONDS
        self.unanswered_pings = 0
        while True:
            await asyncio.sleep(interval)
            if self.unanswered_pings >= MISSED_PINGS_LIMIT:
                ws.transport.abort()
                dead = gettext_noop(
                    "WeCom answered none of the last %(count)s pings: the connection was taken "
                    "for dead"
                )
                raise ConnectionDead(Reason(dead, count=str(self.unanswered_pings)))
            await self._ping()
            self._note_connection()

    async def _ping(self) -> None:
        """Send a ping without waiting for its ack: `_read` resolves it whenever it comes.
        An ack with an errcode ≠ 0 is WeCom refusing the ping, not an answer: like
        Tencent's SDK (`src/ws.ts`, handleFrame), it leaves the ping unanswered."""
        req_id = new_req_id("ping")
        answered = asyncio.get_running_loop().create_future()

        def settle(future: asyncio.Future) -> None:
            self.pending.pop(req_id, None)
            if future.cancelled() or future.exception() is not None:
                return
            if future.result().get("errcode") in (0, None):
                self.unanswered_pings, self.proven = 0, True
            else:
                logger.warning("AI bot %s: ping refused: %.200s", self.bot_id, future.result())

        answered.add_done_callback(settle)
        self.pending[req_id] = answered
        self.unanswered_pings += 1
        await self._send({"cmd": "ping", "headers": {"req_id": req_id}})
