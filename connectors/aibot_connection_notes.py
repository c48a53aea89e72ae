"""The AI bot connection's state as the database records it ("connected", "retrying",
its last frame, and why a bot is not reconnected), written beside the connection:
a slow database holds neither a ping nor a reconnect back.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from django.db import Error as DatabaseError
from django.utils import timezone

from .aibot_receiving import STORE_RETRY_FIRST_SECONDS, STORE_RETRY_MAX_SECONDS

logger = logging.getLogger(__name__)


class ConnectionNotes:
    """BotSession's records of its connection (its state is set up in BotSession)."""

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
