"""The `Retry-After` header of an HTTP answer (RFC 9110 §10.2.3), read alike for a bridge
agent's answer (connectors/bridge.py) and a webhook receiver's (forwarding): how long the
other side asks to be left alone. What a wait costs at most is each engine's own
(messaging.outbox.RETRY_AFTER_AT_MOST)."""

import math
from datetime import datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delay-seconds or an HTTP-date), or None
    when there is none or it cannot be read. A date already past asks for no wait."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    # NaN and infinity ("1e999") are no wait anyone asked for; a wait without end would
    # overflow the next attempt's time.
    return max(seconds, 0.0) if math.isfinite(seconds) else None
