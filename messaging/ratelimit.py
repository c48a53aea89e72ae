"""The acceptance rate limit of `/api/send`, per bot secret.

A fixed one-minute window counted in Django's cache (the database cache by
default, Redis in production), so every web process shares the count. This
limits how fast callers may hand messages to botadmin; how fast botadmin
hands them to WeCom is the delivery pace, a separate thing.

The counter is keyed by the bot (every secret of a bot, including one in its
rotation grace period, shares it) and never by the secret itself, which must
not appear in cache keys.
"""

import time

from django.conf import settings
from django.core.cache import cache

from botadmin.errors import Err

WINDOW_SECONDS = 60


def check_send_rate(bot_id: int, limit: int | None = None) -> None:
    """Count one request; raise 45009 with Retry-After when over the limit."""
    limit = settings.BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE if limit is None else limit
    if limit <= 0:
        return
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = f"send-rate:{bot_id}:{window}"
    # incr() is atomic on Redis and close enough on the database cache (a
    # race may let a few extra through); add() starts each window.
    try:
        count = cache.incr(key)
    except ValueError:
        count = 1 if cache.add(key, 1, timeout=WINDOW_SECONDS * 2) else cache.incr(key)
    if count > limit:
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
        raise Err.RATE_LIMITED.error(
            f"api freq out of limit: at most {limit} messages per minute, retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
