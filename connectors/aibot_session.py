"""One WeCom AI bot's long connection, held by the gateway (`connectors/aibot_gateway.py`).

`BotSession.run()` connects, subscribes, heartbeats and reconnects with
jittered backoff (1 s doubling to 30 s) until it is stopped, or until WeCom
says something that reconnecting cannot fix. A network failure, a connection
WeCom closes (before or after the subscription) and one whose pings go
unanswered are all retried, without a bound; the waits start again from 1 s only
after a connection on which WeCom answered a ping, so a server that takes the
subscription and drops it at once is called every 15 to 30 s, not every second. What
stops the retries:

* the subscription is refused (bad bot id or secret): the bot is paused
  with WeCom's answer as the reason; resuming it tries again. WeCom being
  busy (-1) or limiting calls (45009, 45033) is not a refusal: the
  subscription is tried again with the same backoff, after 45009 once its
  minute has passed (`wecom_answers.wait_after`, as every WeCom connector).
  Tencent's SDK reads every errcode ≠ 0 alike, as failed authentication: it
  connects again, at most 5 times, then gives up, its error saying the bot id
  or secret is usually wrong and retrying cannot fix it (@wecom/aibot-node-sdk's
  published build, `maxAuthFailureAttempts`, `WSAuthFailureError`). The only
  refusal seen from WeCom is 853000 "invalid bot_id or secret"; it pauses at once.
  The busy three are WeCom's global "try later" errcodes (document 90313: -1
  系统繁忙，建议稍候重试); tried again without a bound, they pause no bot while
  WeCom recovers, the connection shown "Reconnecting" with WeCom's answer meanwhile;
* a `disconnected_event` (another client took the connection over): the bot
  is marked "connection taken over at …" and nobody reconnects until an
  operator asks to (the kick loop of two holders is what this prevents).

Callbacks are read at once, written to the session's inbox journal before
anything else (`connectors/aibot_inbox.py`: it outlives a killed gateway) and
handed to a queue; one task per session stores them in order through the same
inbound service as `/api/callback` (dedupe by msgid, forwarding;
`connectors/aibot_inbound.py`). WeCom's protocol has no acknowledgement from
the client for a callback, so none is sent. Media is fetched by the archive's
worker right after the message is stored (`WeComAIBotConnector.fetch_media`).
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
import json
import logging
import random
import time
import uuid
import weakref
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING

import websockets
from django.conf import settings
from django.db import Error as DatabaseError
from django.db import InterfaceError, OperationalError, ProgrammingError
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.reasons import Reason

from . import aibot_inbound
from .aibot_failures import connection_failure
from .aibot_inbox import InboxJournal
from .base import MEDIA_MIN_BYTES, media_word, too_small
from .conversions import markdown_to_text
from .filenames import upload_name
from .wecom_aibot_frames import (
    DISCONNECTED_EVENT,
    RESPOND_UPDATE,
    RESPOND_WELCOME,
    FrameError,
    card_update,
    clicked_task_id,
    event_type,
    reply_command,
)
from .wecom_answers import BUSY_ERRCODES, RATE_LIMITED_ERRCODE, wait_after

if TYPE_CHECKING:
    from .aibot_gateway import Gateway

logger = logging.getLogger(__name__)

ACK_TIMEOUT = 5.0  # what Tencent's SDK waits for an ack
SUBSCRIBE_TIMEOUT = 10.0
# Tencent's SDK reconnects after 1 s, doubling up to 30 s (WecomTeam/aibot-node-sdk,
# src/ws.ts: reconnectBaseDelay, reconnectMaxDelay); ours jitters each wait (below).
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
# Pings sent in a row without any ack: at the next tick the connection is taken for dead
# (with 30 s pings, 60-90 s after the last ack; Tencent's SDK counts the same way).
MISSED_PINGS_LIMIT = 2
# What WeCom pushes; any other frame answering an awaited req_id is that request's ack.
CALLBACK_COMMANDS = frozenset({"aibot_msg_callback", "aibot_event_callback"})
# Reply windows remembered per session (msgid → callback req_id).
REPLY_WINDOWS_KEPT = 10_000
# WeCom's errcodes for a req_id it no longer answers to: send proactively instead.
REPLY_GONE_ERRCODES = frozenset({846605, 846608})
# Sent by the media_id of a chunked upload (wecom-aibot.md: image, file, voice, video).
UPLOADED_MSGTYPES = ("image", "file", "voice")
UPLOAD_CHUNK_BYTES = 512 * 1024
UPLOAD_MAX_CHUNKS = 100
FRAME_MAX_BYTES = 4 * 1024 * 1024
# A callback the database could not take is stored again after these waits (doubling).
STORE_RETRY_FIRST_SECONDS, STORE_RETRY_MAX_SECONDS = 0.5, 30.0
# How long stopping waits for the callbacks already read to be stored.
STOP_DRAIN_SECONDS = 10.0
# A refusal as it read before it named the console's Resume sending: pauses stored then
# keep translating. Its English stays as it was stored.
EARLIER_REFUSED = gettext_noop(
    "WeCom refused the AI bot's bot ID or secret (%(errcode)s %(errmsg)s): correct "
    "the bot's settings, then resume it."
)


def new_req_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def backoff(attempt: int) -> float:
    """1 s, 2 s, 4 s, … up to 30 s, each between half and all of it (jitter)."""
    ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt)
    return max(BACKOFF_FIRST, random.uniform(ceiling / 2, ceiling))


class NotAcknowledged(Exception):
    """The frame was written but WeCom's ack did not come in time (or the connection dropped)."""


class NotConnected(Exception):
    """Nothing was written: there is no subscribed connection right now."""


class ConnectionDead(Exception):
    """WeCom answered none of the last MISSED_PINGS_LIMIT pings: the connection was dropped
    on our side, without waiting for a close WeCom would not answer either."""


class SubscriptionDeferred(Exception):
    """WeCom answered the subscription with busy or a rate limit: connect again later,
    not before `retry_after` seconds when WeCom's errcode asks for a wait (45009)."""

    def __init__(self, reason: Reason, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


def not_sent(outcome: str, reason: str) -> dict:
    """The gateway's answer to a send WeCom did not acknowledge: the outcome, the English
    text (`errmsg`, for logs) and the reason as msgid and parameters (`reason`), which
    the connector stores so it reads in the operator's language."""
    return {"outcome": outcome, "errmsg": str(reason), "reason": reasons.as_json(reason)}


class BotSession:
    def __init__(self, gateway: Gateway, bot_id: int, credentials: tuple[str, str, str]):
        self.gateway = gateway
        self.bot_id = bot_id
        self.credentials = credentials
        self.ended = ""  # "taken_over" / "refused": this bot is not reconnected
        self.stopping = False
        self.refusal: Reason | None = None  # WeCom's answer refusing the credentials
        self.lease_valid_until = 0.0  # monotonic
        self.ws = None
        self.subscribed = False
        self.pending: dict[str, asyncio.Future] = {}
        # msgid → (callback req_id, monotonic deadline, command that answers it, the
        # clicked card's task_id for a card click)
        self.replies: OrderedDict[str, tuple[str, float, str, str]] = OrderedDict()
        # req_id → the lock its replies take (one after the other's ack); replies to other
        # req_ids, a welcome's 5 s among them, do not wait for it. Gone when unused.
        self.reply_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.not_stored = 0  # callbacks read and not stored yet (queued or being stored)
        self.journal: InboxJournal | None = None
        self.last_frame = 0.0
        self.unanswered_pings = 0  # pings sent since the last ping's ack
        self.connected_at = None  # when WeCom took this connection's subscription
        self.noted_connected_at = None  # the connected_at of the last "connected" recorded
        self.noting: asyncio.Task | None = None  # the connection's state being recorded
        self.task: asyncio.Task | None = None
        self.store_task: asyncio.Task | None = None
        self.tasks: set[asyncio.Task] = set()
        self.bot = None  # loaded when its first callback is stored

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        gateway = self.gateway
        try:
            self.journal = InboxJournal(gateway.inbox_folder, self.bot_id, gateway.journal_executor)
        except OSError as error:  # receiving unjournaled beats not receiving
            logger.error(
                "AI bot %s: no inbox journal (%s): callbacks read are in memory only until stored",
                self.bot_id,
                error,
            )
        self.task = asyncio.create_task(self.run(), name=f"aibot-{self.bot_id}")
        self.store_task = self._spawn(self._store_inbox())

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    async def stop(self) -> None:
        """Close the connection, store the callbacks already read (for STOP_DRAIN_SECONDS at
        most), then end every task; what is still not stored stays in the journal."""
        self.stopping = True
        await self._end([self.task])
        if self.store_task is not None and not self.store_task.done():
            try:
                async with asyncio.timeout(STOP_DRAIN_SECONDS):  # not wait_for: see _request
                    await self.inbox.join()
            except TimeoutError:
                kept = (
                    f"they stay in {self.journal.path}, stored by this host's gateway at its "
                    "next poll or start"
                    if self.journal
                    else "they are lost (no journal)"
                )
                logger.warning(
                    "AI bot %s: stopping with %d callbacks not stored (the database did not "
                    "take them); %s",
                    self.bot_id,
                    self.inbox.qsize() + 1,
                    kept,
                )
        await self._end([*self.tasks])
        if self.journal is not None:
            await self.journal.close()

    @staticmethod
    async def _end(tasks) -> None:
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is not None:
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: S110 (stopping: outcome known)
                    pass

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def run(self) -> None:
        attempt = 0
        while not self.ended:
            wait_at_least = 0.0
            try:
                await self._connect_once()
                error = Reason(gettext_noop("connection closed by WeCom"))
            except asyncio.CancelledError:
                raise
            except SubscriptionDeferred as failure:
                error = reasons.of(failure)
                wait_at_least = failure.retry_after or 0.0
            except (NotAcknowledged, ConnectionDead) as failure:  # our words already
                error = reasons.of(failure)
            except (OSError, TimeoutError, websockets.WebSocketException) as failure:
                # Operators read our words; the log keeps Python's (`[Errno -2] …`).
                error = connection_failure(failure, self.credentials[2])
                logger.warning("AI bot %s: %r", self.bot_id, failure)
            except Exception as failure:
                logger.exception("AI bot %s: connection failed", self.bot_id)
                error = connection_failure(failure, self.credentials[2])
            finally:
                self._disconnected()
            if self.ended:
                await self._record_end()
                return
            if self.stopping:  # a cancel swallowed on the way (as 3.11's asyncio.wait_for does)
                return
            if self.proven:  # the waits start again only after a connection that lived
                attempt, self.proven = 0, False
            delay = max(backoff(attempt), wait_at_least)
            attempt += 1
            logger.warning("AI bot %s: %s; reconnecting in %.1f s", self.bot_id, error, delay)
            self._note_retrying(
                connected_since=None,
                last_error=reasons.shorten(error, 2000),
                last_error_at=timezone.now(),
            )
            await asyncio.sleep(delay)  # stopping cancels it: 45009's minute never holds a stop

    # WeCom answered a ping on the connection: it lived, and the next reconnect waits only the
    # first backoff. A subscription alone does not reset the waits: a server that takes
    # subscriptions and drops them at once would be called again every second for good.
    proven = False

    def _disconnected(self) -> None:
        self.ws, self.subscribed = None, False
        self._fail_pending()

    def _fail_pending(self) -> None:
        """The connection is gone: no ack can come for what waits (the subscription's
        among them), so none waits out its time-out."""
        for future in self.pending.values():
            if not future.done():
                closed = Reason(gettext_noop("the connection closed before WeCom's ack"))
                future.set_exception(NotAcknowledged(closed))
        self.pending.clear()

    async def _connect_once(self) -> None:
        bot_id, secret, url = self.credentials
        async with websockets.connect(
            url, ping_interval=None, open_timeout=SUBSCRIBE_TIMEOUT, max_size=FRAME_MAX_BYTES
        ) as ws:
            self.ws = ws
            reader = asyncio.create_task(self._read(ws))
            try:
                ack = await self._request(
                    "aibot_subscribe", {"bot_id": bot_id, "secret": secret}, SUBSCRIBE_TIMEOUT
                )
                errcode = ack.get("errcode")
                if errcode in BUSY_ERRCODES:
                    answer = f"{errcode} {ack.get('errmsg', '')}".strip()
                    if errcode == RATE_LIMITED_ERRCODE:
                        busy = gettext_noop(
                            "WeCom limited the subscription's calls (%(answer)s): subscribing "
                            "again once its minute has passed"
                        )
                    else:
                        busy = gettext_noop("WeCom did not take the subscription now (%(answer)s)")
                    raise SubscriptionDeferred(Reason(busy, answer=answer), wait_after(errcode))
                if errcode not in (0, None):
                    await self._refused(ack)
                    return
                self.subscribed = True
                logger.info("AI bot %s: subscribed at %s", self.bot_id, url)
                self.connected_at = timezone.now()
                heartbeat = asyncio.create_task(self._heartbeat(ws))
                self._note_connection()
                done, _ = await asyncio.wait(
                    {reader, heartbeat}, return_when=asyncio.FIRST_COMPLETED
                )
                heartbeat.cancel()
                # The heartbeat's first: a connection it aborted also ends the reader.
                for task in sorted(done, key=lambda task: task is not heartbeat):
                    if task.exception():
                        raise task.exception()
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)  # its failure is known

    async def _refused(self, ack: dict) -> None:
        refused = gettext_noop(
            "WeCom refused the AI bot's bot ID or secret (%(errcode)s %(errmsg)s): correct "
            "them in the bot's connector settings, then press Resume sending on the bot's page "
            "(saving the settings does not resume it)."
        )
        reason = Reason(refused, errcode=ack.get("errcode"), errmsg=str(ack.get("errmsg", "")))
        self.ended, self.refusal = "refused", reason
        logger.warning("AI bot %s: subscription refused: %s", self.bot_id, ack)

    async def _record_end(self) -> None:
        """Record why this bot is not reconnected (`connections.taken_over` / `refused`),
        trying again until the database takes it: the lease given up with it unrecorded,
        a gateway would reconnect the bot, and a taken-over bot would take the connection
        back from its new holder (the kick loop wecom-aibot.md warns of)."""
        from conversations import connections

        if self.ended == "refused":
            record = partial(connections.refused, reason=self.refusal)
        else:
            record = connections.taken_over
        wait = STORE_RETRY_FIRST_SECONDS
        while True:
            try:
                await self.gateway.db(record, self.bot_id, self.gateway.holder)
                return
            except DatabaseError as error:
                logger.warning(
                    "AI bot %s: recording %s failed (%r); trying again in %g s",
                    self.bot_id,
                    self.ended,
                    error,
                    wait,
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, STORE_RETRY_MAX_SECONDS)

    # --- frames ---------------------------------------------------------------------

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

    async def _read(self, ws) -> None:
        try:
            await self._read_frames(ws)
        finally:
            self._fail_pending()

    async def _read_frames(self, ws) -> None:
        async for raw in ws:
            self.last_frame = time.monotonic()
            try:
                frame = json.loads(raw)
            except ValueError:
                logger.warning("AI bot %s: a frame that is not JSON: %.200s", self.bot_id, raw)
                continue
            if not isinstance(frame, dict):
                continue
            cmd = frame.get("cmd") or ""
            req_id = str((frame.get("headers") or {}).get("req_id") or "")
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

    def _is_ack(self, frame: dict, cmd: str, req_id: str) -> bool:
        """An ack has no cmd (wecom-aibot.md); one that names a command anyway (its own or
        another) still answers an awaited req_id when it carries an errcode. Only a
        callback is never an ack: a reply is sent with the req_id of the callback it answers."""
        if cmd in ("", "pong"):
            return True
        return req_id in self.pending and "errcode" in frame and cmd not in CALLBACK_COMMANDS

    async def _taken_over(self) -> None:
        self.ended = "taken_over"  # recorded once the connection is closed (`_record_end`)
        logger.warning("AI bot %s: connection taken over by another client", self.bot_id)
        if self.ws is not None:
            await self.ws.close()

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

    def _note_connection(self) -> None:
        """Record the connection's state ("connected", then its last frame) beside the
        heartbeat, one write at a time: a slow or unavailable database neither holds a ping
        back nor ends a connection WeCom keeps (wecom-aibot.md: only two unanswered pings
        do); what could not be recorded is tried again at the next ping."""
        if self.noting is None or self.noting.done():
            self.noting = self._spawn(self._record_connection())

    def _note_retrying(self, **fields) -> None:
        """Record "retrying" after what is being recorded (a late "connected" must not land
        after it), beside the reconnect: its wait is the backoff, not the database's."""
        previous = self.noting

        async def record() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await self._note(state="retrying", **fields)

        self.noting = self._spawn(record())

    async def _record_connection(self) -> None:
        connected_at = self.connected_at
        if self.noted_connected_at != connected_at:
            # The connection this write is for: a stalled database may take it only once
            # that one has dropped and the next subscribed, which is still to be recorded.
            if await self._note(
                state="connected", connected_since=connected_at, last_frame_at=timezone.now()
            ):
                self.noted_connected_at = connected_at
        elif self.last_frame:
            try:
                await self.gateway.db(self.gateway.note_frame, self.bot_id, self.last_frame)
            except DatabaseError as error:
                logger.warning("AI bot %s: the last frame not recorded: %r", self.bot_id, error)

    async def _note(self, **fields) -> bool:
        """Record the connection's state; False when the database did not take it."""
        try:
            await self.gateway.db(self.gateway.note, self.bot_id, **fields)
        except DatabaseError as error:
            logger.warning(
                "AI bot %s: connection state %s not recorded: %r",
                self.bot_id,
                fields.get("state"),
                error,
            )
            return False
        return True

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

    # --- inbound --------------------------------------------------------------------

    def _remember_reply(self, frame: dict, req_id: str, reply: tuple[str, float] | None) -> None:
        msgid = str((frame.get("body") or {}).get("msgid") or "")
        if not msgid or not req_id or reply is None:
            return
        command, seconds = reply
        task_id = clicked_task_id(frame.get("body") or {}) if command == RESPOND_UPDATE else ""
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

    # --- outbound -------------------------------------------------------------------

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
