"""The acceptance rate limit of `/api/send`, per bot.

A fixed one-minute window counted in Django's shared cache (the database cache
by default, Redis in production): `cache.incr` on the bot's key for the current
minute, `cache.add` to start it. Every web process counts into the same key, so
the limit holds across processes. This limits how fast callers may hand
messages to botadmin; how fast botadmin hands them to WeCom is the delivery
pace, a separate thing.

`incr` must not lose counts under concurrent requests: Redis's is atomic, and
the database cache is botadmin's own subclass whose `incr` is
(`botadmin/cache.py`; Django's reads then writes, and let 793 and 918 of 1,000
concurrent requests through a limit of 600).

The counter is keyed by the bot (every secret of a bot, including one in its
rotation grace period, shares it) and never by the secret itself, which must
not appear in cache keys.

While the cache cannot be reached, requests are accepted without counting: the
limit is a protection, and refusing every message because of it would turn a
cache outage into an outage of the send API. After a failure the process tries
the cache again only some seconds later (`botadmin.cache.best_effort`), so a hung
cache costs one timeout per process now and then, not one per request.
"""

import time

from django.conf import settings
from django.core.cache import cache

from botadmin.cache import best_effort
from botadmin.errors import Err

WINDOW_SECONDS = 60


def check_send_rate(bot_id: int, limit: int | None = None) -> None:
    """Count one request; raise 45009 with Retry-After when over the limit."""
    limit = settings.BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE if limit is None else limit
    if limit <= 0:
        return
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    count = best_effort.attempt(_count, f"send-rate:{bot_id}:{window}")
    if count is None:  # not counted
        return
    if count > limit:
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
        raise Err.RATE_LIMITED.error(
            f"api freq out of limit: at most {limit} messages per minute, retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


def _count(key: str) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request (or the key expired)
        if cache.add(key, 1, timeout=WINDOW_SECONDS * 2):
            return 1
        return cache.incr(key)
