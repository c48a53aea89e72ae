"""Send-rate limits shared by every worker, kept in Django's cache.

* Per bot: at most `Bot.rate_limit_per_minute` messages in any 60 seconds.
  Up to FAST_RATE a minute, time is cut into slots of 60/(N-1) seconds and
  each slot admits one message (an atomic `cache.add` on the slot's key), so
  any minute overlaps at most N slots. Sends come out evenly spaced rather
  than in bursts, which is also what keeps a real WeCom account clear of risk
  control. Faster bots (agents, not WeCom robots) get slots of one second
  that admit N // 61 messages each, counted with one `cache.incr` per claimed
  batch: any minute overlaps at most 61 such slots, so at most N messages.
* Per conversation: at least DELIVERY_CONVERSATION_MIN_GAP seconds between two
  messages, or the connector's own gap when larger (`Connector.conversation_gap`:
  WeCom's app drops more than 30 a minute or 1,000 an hour to one member, a group
  robot refuses more than 20 a minute). Messages to one conversation leave one at a
  time (the delivery engine keeps their order), so a plain "last send" time is
  enough. The gap is kept per `Connector.pace_key`, the conversation unless the
  connector says otherwise: two groups entered with one robot key share one. Their
  messages are not ordered with each other, so two claims at the same moment may
  both find the key free; one claim lets only one of them go.

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
# From this many messages a minute, a bot's slots are one second wide and admit several.
FAST_RATE = 122


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


def slot_width(per_minute: int) -> float:
    """The width of one of the bot's slots: messages refused a slot spread over it."""
    return slot_seconds(per_minute) if per_minute < FAST_RATE else 1.0


def take_bot_slots(bot_id: int, per_minute: int, now: float, wanted: int) -> tuple[int, float]:
    """How many of `wanted` (one or more) messages may leave now, and seconds until the
    others may try."""
    if per_minute < FAST_RATE:
        wait = take_bot_slot(bot_id, per_minute, now)
        return (1, 0.0) if wait == 0 else (0, wait)
    second = math.floor(now)
    key = f"delivery:rate:{bot_id}:{per_minute}:s{second}"
    cache.add(key, 0, timeout=1 + KEY_MARGIN_SECONDS)
    count = cache.incr(key, wanted)
    granted = max(0, min(wanted, per_minute // 61 - (count - wanted)))
    return granted, (0.0 if granted == wanted else second + 1 - now)


def conversation_gap(connector_gap: float = 0.0) -> float:
    """The larger of DELIVERY_CONVERSATION_MIN_GAP and the connector's own gap."""
    return max(settings.DELIVERY_CONVERSATION_MIN_GAP, connector_gap)


def conversation_waits(gaps: dict[str, float], now: float) -> dict[str, float]:
    """Seconds until each pace's minimum gap has passed (pace key → gap in; only those
    that must wait out), in one cache read."""
    gapped = {pace: gap for pace, gap in gaps.items() if gap > 0}
    if not gapped:
        return {}
    lasts = cache.get_many([_last_key(pace) for pace in gapped])
    waits = {}
    for pace, gap in gapped.items():
        last = lasts.get(_last_key(pace))
        # A millisecond's tolerance: times stored to the microsecond would otherwise
        # leave a wait too small to move `next_attempt_at` (gaps like 3.6 s).
        if last is not None and now - last < gap - 0.001:
            waits[pace] = gap - (now - last)
    return waits


def note_conversation_sends(gaps: dict[str, float], now: float) -> None:
    """Remember that these paces (pace key → gap) got a message at `now`."""
    gapped = {pace: gap for pace, gap in gaps.items() if gap > 0}
    if gapped:
        timeout = math.ceil(max(gapped.values())) + KEY_MARGIN_SECONDS
        cache.set_many({_last_key(pace): now for pace in gapped}, timeout=timeout)


def _last_key(pace: str) -> str:
    # A conversation's pace key is its id: the keys of earlier releases.
    return f"delivery:conversation-gap:{pace}"
