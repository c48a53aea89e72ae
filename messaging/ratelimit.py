"""The acceptance rate limit of `/api/send`, per bot secret.

A fixed one-minute window counted in Django's cache (the database cache by
default, Redis in production), so every web process shares the count. This
limits how fast callers may hand messages to botadmin; how fast botadmin
hands them to WeCom is the delivery pace, a separate thing.

The counter is keyed by the bot (every secret of a bot, including one in its
rotation grace period, shares it) and never by the secret itself, which must
not appear in cache keys.

Each process counts locally and adds its count to the shared counter in
batches (every `limit // 50` requests, every FLUSH_SECONDS, and before any
refusal), so a request costs a cache write only now and then: with the
database cache on SQLite, a write per request would double the write
transactions of acceptance. Within one process the count is exact; across
processes the limit may be overshot by about 2 % per web process.

While the cache cannot be reached, each process limits on its own count: the
limit is a protection, and refusing every message because of it would turn a
cache outage into an outage of the send API. After a failure the process tries
the shared counter again only RETRY_SHARED_AFTER seconds later, so a hung cache
costs one timeout per process now and then, not one every few requests.
"""

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from botadmin.errors import Err

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
FLUSH_SECONDS = 0.25
RETRY_SHARED_AFTER = 10.0


@dataclass
class _Window:
    shared: int = 0  # the shared counter as of this process's last flush
    pending: int = 0  # counted here, not yet added to the shared counter
    flushed_at: float = 0.0


_lock = threading.Lock()
_windows: dict[tuple[int, int], _Window] = {}
_shared_unreachable_until = 0.0


def check_send_rate(bot_id: int, limit: int | None = None) -> None:
    """Count one request; raise 45009 with Retry-After when over the limit."""
    limit = settings.BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE if limit is None else limit
    if limit <= 0:
        return
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    batch = max(1, limit // 50)
    with _lock:
        state = _windows.get((bot_id, window))
        if state is None:
            _forget_old_windows(window)
            state = _windows[(bot_id, window)] = _Window(flushed_at=now)
        state.pending += 1
        over = state.shared + state.pending > limit
        if over or state.pending >= batch or now - state.flushed_at >= FLUSH_SECONDS:
            _flush(f"send-rate:{bot_id}:{window}", state, now)
            over = state.shared > limit
    if over:
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
        raise Err.RATE_LIMITED.error(
            f"api freq out of limit: at most {limit} messages per minute, retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


def _flush(key: str, state: _Window, now: float) -> None:
    global _shared_unreachable_until
    if now < _shared_unreachable_until:
        state.shared += state.pending
    else:
        try:
            state.shared = _add_to_shared(key, state.pending)
        except Exception as error:
            state.shared += state.pending
            _shared_unreachable_until = now + RETRY_SHARED_AFTER
            logger.warning(
                "Send-rate counter unreachable (%s): this process counts alone for %g s",
                error.__class__.__name__,
                RETRY_SHARED_AFTER,
            )
    state.pending = 0
    state.flushed_at = now


def _add_to_shared(key: str, count: int) -> int:
    # incr() is atomic on Redis and close enough on the database cache (a
    # race may let a few extra through); add() starts each window.
    try:
        return cache.incr(key, count)
    except ValueError:
        if cache.add(key, count, timeout=WINDOW_SECONDS * 2):
            return count
        return cache.incr(key, count)


def _forget_old_windows(current: int) -> None:
    for key in [key for key in _windows if key[1] < current]:
        del _windows[key]


def reset() -> None:
    """Forget this process's counts (tests clear the shared cache too)."""
    global _shared_unreachable_until
    with _lock:
        _windows.clear()
        _shared_unreachable_until = 0.0
