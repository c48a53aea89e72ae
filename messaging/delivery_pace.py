"""Send-rate limits shared by every worker, kept in Django's cache.

* Per bot: at most `Bot.rate_limit_per_minute` messages in any 60 seconds.
  Time is cut into slots of 60/(N-1) seconds and each slot admits one message
  (an atomic `cache.add` on the slot's key), so any minute overlaps at most N
  slots. Sends come out evenly spaced rather than in bursts, which is also
  what keeps a real WeCom account clear of risk control.
* Per conversation: at least DELIVERY_CONVERSATION_MIN_GAP seconds between two
  messages, or the connector's own gap when larger (`Connector.conversation_gap`:
  WeCom's app drops more than 30 a minute or 1,000 an hour to one member).
  Messages to one conversation leave one at a time (the delivery engine keeps
  their order), so a plain "last send" time is enough.

Both take `now` (Unix seconds) from the caller, so tests drive them with a
simulated clock. Over the limit, the answer is how long to wait: the message
waits, it never fails.
"""

from __future__ import annotations

import math

from django.conf import settings
from django.core.cache import cache

# Keys outlive their slot by this much real time (slots of a simulated clock
# move faster than real time; real-time keys must not expire early).
KEY_MARGIN_SECONDS = 120


def slot_seconds(per_minute: int) -> float:
    if per_minute <= 1:
        return 60.001
    return 60.0 / (per_minute - 1)


def take_bot_slot(bot_id: int, per_minute: int, now: float) -> float:
    """0 when this message may leave now; else seconds until the next slot."""
    width = slot_seconds(per_minute)
    slot = math.floor(now / width)
    key = f"delivery:rate:{bot_id}:{per_minute}:{slot}"
    if cache.add(key, 1, timeout=math.ceil(width) + KEY_MARGIN_SECONDS):
        return 0.0
    return (slot + 1) * width - now


def conversation_gap(connector_gap: float = 0.0) -> float:
    """The larger of DELIVERY_CONVERSATION_MIN_GAP and the connector's own gap."""
    return max(settings.DELIVERY_CONVERSATION_MIN_GAP, connector_gap)


def conversation_wait(conversation_id: int, now: float, connector_gap: float = 0.0) -> float:
    """Seconds until the conversation's minimum gap has passed (0: go)."""
    gap = conversation_gap(connector_gap)
    if gap <= 0:
        return 0.0
    last = cache.get(_last_key(conversation_id))
    # A millisecond's tolerance: times stored to the microsecond would otherwise
    # leave a wait too small to move `next_attempt_at` (gaps like 3.6 s).
    if last is None or now - last >= gap - 0.001:
        return 0.0
    return gap - (now - last)


def note_conversation_send(conversation_id: int, now: float, connector_gap: float = 0.0) -> None:
    gap = conversation_gap(connector_gap)
    if gap > 0:
        cache.set(_last_key(conversation_id), now, timeout=math.ceil(gap) + KEY_MARGIN_SECONDS)


def _last_key(conversation_id: int) -> str:
    return f"delivery:conversation-gap:{conversation_id}"
