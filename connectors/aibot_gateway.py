"""The AI bot gateway: one long connection per active WeCom AI bot (`manage.py aibot_gateway`).

Every `WECOM_AIBOT_POLL_SECONDS` the gateway reads the active, unpaused AI
bots and

* renews the lease of each bot it holds (`conversations.connections`); a
  lease it lost (it stalled longer than `WECOM_AIBOT_LEASE_SECONDS` and
  another gateway took the bot) stops that connection at once;
* stops the connections of bots that were deactivated, deleted or whose
  credentials changed (a changed bot is connected again at once with
  its new settings);
* claims every other bot whose lease is free or expired and starts its
  `BotSession` (connect, subscribe, heartbeat, reconnect).

So a new bot or changed credentials are picked up within one poll, and two
gateways — on one host or several — never hold one bot: the second waits
until the first's lease expires.

Callbacks are journaled on local disk as they are read (`connectors/aibot_inbox.py`);
the journals that stopped or killed gateways left on this host are stored at
every poll, and, at every poll too but apart (a replay can take long), how many
callbacks wait to be stored is reported for /readyz and /metrics.

Outbound messages reach the gateway from the delivery workers over HTTP
(`SendEndpoint`, a local server whose address and token the lease row
records): the connector posts the body, the gateway writes the frame on the
bot's connection and answers with WeCom's ack.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext_noop

from botadmin import thread_connections
from botadmin.bearer import bearer_challenge, bearer_token
from botadmin.local_http import Answer, LocalServer, Request
from botadmin.reasons import Reason

from . import aibot_inbox
from .aibot_sending import not_sent
from .aibot_session import BotSession
from .wecom_aibot import KIND, credentials

logger = logging.getLogger(__name__)

DB_THREADS = 4
SEND_WAIT_SECONDS = 55.0
# A lease renewed this close to its expiry is not trusted any more (clock skew, a slow write).
LEASE_MARGIN_SECONDS = 2.0
FRAME_NOTE_SECONDS = 10.0


class Gateway:
    def __init__(self, holder: str = ""):
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.token = secrets.token_urlsafe(24)
        self.sessions: dict[int, BotSession] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.endpoint = SendEndpoint(
            self, settings.WECOM_AIBOT_GATEWAY_HOST, settings.WECOM_AIBOT_GATEWAY_PORT
        )
        self._executor = ThreadPoolExecutor(DB_THREADS, thread_name_prefix="aibot-db")
        self._frames_noted: dict[int, float] = {}
        self.inbox_folder = Path(settings.WECOM_AIBOT_INBOX_DIR)
        # The sessions' journal syncs (aibot_inbox.py), off the event loop and the DB threads.
        self.journal_executor = ThreadPoolExecutor(1, thread_name_prefix="aibot-journal")
        self._replay: asyncio.Task | None = None
        self._stopping = threading.Event()
        # The backlog report, on a thread of its own: it waits for neither a replay nor the
        # database's threads (only for the cache, which may live in the database).
        self._report_executor = ThreadPoolExecutor(1, thread_name_prefix="aibot-report")
        self.journals = aibot_inbox.OrphanedJournals(self.inbox_folder)

    @property
    def endpoint_url(self) -> str:
        return settings.WECOM_AIBOT_GATEWAY_URL or self.endpoint.url("")

    async def db(self, function, *args, **kwargs):
        """Run blocking (ORM) work off the event loop, on the gateway's own threads."""
        return await self.loop.run_in_executor(
            self._executor, partial(thread_connections.as_request, function, *args, **kwargs)
        )

    async def run(self, stop: asyncio.Event) -> None:
        self.loop = asyncio.get_running_loop()
        self.inbox_folder.mkdir(parents=True, exist_ok=True)
        self.endpoint.start()
        logger.info("AI bot gateway %s: taking sends at %s", self.holder, self.endpoint_url)
        reporting = asyncio.create_task(self._report_every_poll(stop))
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except Exception:
                    logger.exception("AI bot gateway: a poll failed; trying again")
                await stopped_within(stop, settings.WECOM_AIBOT_POLL_SECONDS)
        finally:
            self._stopping.set()  # a replay stops between two callbacks
            # Side by side: each may wait for its callbacks to be stored (BotSession.stop).
            await asyncio.gather(*(self._stop(bot_id) for bot_id in list(self.sessions)))
            if self._replay is not None:
                await self._replay
            reporting.cancel()
            await asyncio.gather(reporting, return_exceptions=True)
            self.endpoint.stop()
            thread_connections.close_on_threads(self._executor, DB_THREADS)
            thread_connections.close_on_threads(self._report_executor, 1)
            self._executor.shutdown(wait=True)
            self._report_executor.shutdown(wait=True)
            self.journal_executor.shutdown(wait=True)

    async def tick(self) -> None:
        if self._replay is None or self._replay.done():
            self._replay = asyncio.create_task(self._replay_orphans())
        wanted = await self.db(wanted_bots)
        lease = settings.WECOM_AIBOT_LEASE_SECONDS
        for bot_id, session in list(self.sessions.items()):
            if session.done or wanted.get(bot_id) != session.credentials:
                await self._stop(bot_id)
                continue
            try:
                renewed = await self.db(connections_call, "renew", bot_id, self.holder, lease)
            except Exception:
                logger.exception("AI bot %s: renewing the lease failed", bot_id)
                renewed = time.monotonic() < session.lease_valid_until
            else:
                if renewed:
                    session.lease_valid_until = time.monotonic() + lease - LEASE_MARGIN_SECONDS
            if not renewed:
                logger.warning("AI bot %s: lease lost; closing this gateway's connection", bot_id)
                await self._stop(bot_id, release=False)
        for bot_id, bot_credentials in wanted.items():
            if bot_id in self.sessions:
                continue
            claimed = await self.db(
                connections_call,
                "claim",
                bot_id,
                self.holder,
                lease,
                endpoint=self.endpoint_url,
                token=self.token,
            )
            if claimed:
                session = BotSession(self, bot_id, bot_credentials)
                session.lease_valid_until = time.monotonic() + lease - LEASE_MARGIN_SECONDS
                session.start()
                self.sessions[bot_id] = session
                logger.info("AI bot %s: lease taken by %s", bot_id, self.holder)

    async def _replay_orphans(self) -> None:
        """Store what stopped sessions left in their journals (a task of its own: a long
        journal must not hold the lease renewals up)."""
        try:
            await self.db(
                aibot_inbox.replay_orphans, self.inbox_folder, self._stopping, self.journals
            )
        except aibot_inbox.DATABASE_ERRORS as error:
            logger.warning(
                "AI bot gateway: storing the journals left by stopped gateways failed (%s); "
                "trying again at the next poll",
                error.__class__.__name__,
            )
        except Exception:
            logger.exception("AI bot gateway: storing the journals left by stopped gateways")

    async def _report_every_poll(self, stop: asyncio.Event) -> None:
        """Report what this gateway read and did not store yet, every poll: while a long
        replay runs, or a poll waits for a hung database, the report goes on."""
        while True:
            unstored = sum(session.not_stored for session in self.sessions.values())
            try:
                await self.loop.run_in_executor(
                    self._report_executor,
                    partial(thread_connections.as_request, self._report_backlog, unstored),
                )
            except Exception:
                logger.exception("AI bot gateway: reporting the callbacks not stored yet failed")
            if await stopped_within(stop, settings.WECOM_AIBOT_POLL_SECONDS):
                return

    def _report_backlog(self, unstored: int) -> None:
        aibot_inbox.report_backlog(self.holder, unstored, self.journals.count())

    async def _stop(self, bot_id: int, release: bool = True) -> None:
        session = self.sessions.pop(bot_id, None)
        if session is None:
            return
        await session.stop()
        if release:
            await self.db(connections_call, "release", bot_id, self.holder)

    # --- what sessions record ---------------------------------------------------------

    def note(self, bot_id: int, **fields) -> None:
        from conversations import connections

        connections.note(bot_id, self.holder, **fields)

    def note_frame(self, bot_id: int, monotonic_at: float) -> None:
        """The bot's last frame, written at most every FRAME_NOTE_SECONDS."""
        if monotonic_at - self._frames_noted.get(bot_id, 0.0) < FRAME_NOTE_SECONDS:
            return
        self._frames_noted[bot_id] = monotonic_at
        at = datetime.fromtimestamp(time.time() - (time.monotonic() - monotonic_at), tz=UTC)
        self.note(bot_id, last_frame_at=at)

    # --- outbound -----------------------------------------------------------------------

    def deliver(self, request: dict) -> Answer:
        """From an endpoint thread: hand the request to the bot's session and wait for it."""
        session = self.sessions.get(int(request.get("bot_id") or 0))
        if session is None or self.loop is None:
            not_held = Reason(gettext_noop("this gateway does not hold the bot"))
            return Answer(503, not_sent("retry", not_held))
        future = asyncio.run_coroutine_threadsafe(session.deliver(request), self.loop)
        try:
            return Answer(200, future.result(SEND_WAIT_SECONDS))
        except TimeoutError:
            future.cancel()
            gave_up = Reason(gettext_noop("the gateway gave up waiting"))
            return Answer(200, not_sent("uncertain", gave_up))


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Whether `stop` is set within `seconds`. Not `asyncio.wait_for`: on Python 3.11 it
    swallows a cancel that comes as the awaited thing ends (gh-86296, fixed in 3.12)."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True


def wanted_bots() -> dict[int, tuple[str, str, str]]:
    """Active AI bots with their credentials, but not those paused because WeCom refused
    their credentials (resuming the bot tries again). A bot paused for another reason
    keeps receiving: the pause is about sending."""
    from conversations.models import Bot

    refused = Q(paused_at__isnull=False, connection__state="refused")
    bots = Bot.objects.filter(connector=KIND, is_active=True).exclude(refused)
    return {bot.pk: credentials(bot) for bot in bots.only("pk", "connector_settings")}


def connections_call(name: str, *args, **kwargs):
    from conversations import connections

    return getattr(connections, name)(*args, **kwargs)


class SendEndpoint(LocalServer):
    """POST /send from the delivery workers (connectors/wecom_aibot.py), with the gateway's token."""

    def __init__(self, gateway: Gateway, host: str, port: int):
        super().__init__(host, port)
        self.gateway = gateway

    def handle(self, request: Request) -> Answer:
        if request.method != "POST" or request.path != "/send":
            return Answer(404, {"errcode": 404, "errmsg": "not found"})
        given = bearer_token(request.headers.get("Authorization", ""))
        if given is None or not secrets.compare_digest(given.encode(), self.gateway.token.encode()):
            return Answer(
                401,
                not_sent("retry", Reason(gettext_noop("wrong gateway token"))),
                bearer_challenge("invalid_token" if given else ""),
            )
        try:
            payload = request.json()
        except ValueError:
            return Answer(400, not_sent("failed", Reason(gettext_noop("the request is not JSON"))))
        return self.gateway.deliver(payload)
