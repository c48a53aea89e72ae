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

The session's other parts, one module each: the commands, their acks and the
heartbeat (`aibot_link.py`), reading frames and storing callbacks
(`aibot_receiving.py`), recording the connection's state
(`aibot_connection_notes.py`) and sending (`aibot_sending.py`). Media is
fetched by the archive's worker right after the message is stored
(`WeComAIBotConnector.fetch_media`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING

import websockets
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.reasons import Reason

from .aibot_connection_notes import ConnectionNotes
from .aibot_failures import connection_failure
from .aibot_inbox import InboxJournal
from .aibot_link import ConnectionDead, Link, NotAcknowledged
from .aibot_receiving import Receiving
from .aibot_sending import Sending
from .wecom_answers import BUSY_ERRCODES, RATE_LIMITED_ERRCODE, wait_after

if TYPE_CHECKING:
    from .aibot_gateway import Gateway

logger = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 10.0
# Tencent's SDK reconnects after 1 s, doubling up to 30 s (WecomTeam/aibot-node-sdk,
# src/ws.ts: reconnectBaseDelay, reconnectMaxDelay); ours jitters each wait (below).
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
FRAME_MAX_BYTES = 4 * 1024 * 1024
# How long stopping waits for the callbacks already read to be stored.
STOP_DRAIN_SECONDS = 10.0
# A refusal as it read before it named the console's Resume sending: pauses stored then
# keep translating. Its English stays as it was stored.
EARLIER_REFUSED = gettext_noop(
    "WeCom refused the AI bot's bot ID or secret (%(errcode)s %(errmsg)s): correct "
    "the bot's settings, then resume it."
)
# As it read while it named the console's Resume sending, which the pause banner it is shown
# in offers already (console/_paused_banner.html): pauses stored then keep translating.
RESUME_REFUSED = gettext_noop(
    "WeCom refused the AI bot's bot ID or secret (%(errcode)s %(errmsg)s): correct "
    "them in the bot's connector settings, then press Resume sending on the bot's page "
    "(saving the settings does not resume it)."
)


def refusal(ack: dict) -> Reason:
    """The pause reason of a subscription WeCom refused: what to fix and where, not to
    resume (the pause banner it is shown in offers Resume sending)."""
    refused = gettext_noop(
        "WeCom refused the AI bot's bot ID or secret (%(errcode)s %(errmsg)s): correct "
        "them in the bot's connector settings."
    )
    return Reason(refused, errcode=ack.get("errcode"), errmsg=str(ack.get("errmsg", "")))


def backoff(attempt: int) -> float:
    """1 s, 2 s, 4 s, … up to 30 s, each between half and all of it (jitter)."""
    ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt)
    return max(BACKOFF_FIRST, random.uniform(ceiling / 2, ceiling))


class SubscriptionDeferred(Exception):
    """WeCom answered the subscription with busy or a rate limit: connect again later,
    not before `retry_after` seconds when WeCom's errcode asks for a wait (45009)."""

    def __init__(self, reason: Reason, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class BotSession(Link, Receiving, ConnectionNotes, Sending):
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
        reason = refusal(ack)
        self.ended, self.refusal = "refused", reason
        logger.warning("AI bot %s: subscription refused: %s", self.bot_id, ack)

    # --- frames ---------------------------------------------------------------------

    # --- inbound --------------------------------------------------------------------

    # --- outbound -------------------------------------------------------------------
