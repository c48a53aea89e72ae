"""Daily caps of the other side, counted in the shared cache (`Connector.daily_caps`).

Some channels drop without a word what a bot sends past a number a day (WeCom's
self-built app: 10,000 messages a day to a member of an app chat, licensed accounts
× 200 person-messages a day per app), while botadmin would record it sent. So
before a message's first part goes out, delivery takes its uses (a use per part
and cap, times the cap's `uses`) from each cap it counts against (`take`): one
that would pass a cap is not sent; it waits for the next calendar day in the
cap's time zone (`SendResult.hold_until`), its trace saying why, and a hold is
never given up on. What was taken for parts that did not go out is given back
(`Taken.give_back`).

A cap's count is a cache key per cap and day, kept two days, moved with
`cache.incr`: atomic across workers. Two sends at once at a cap may both be held
where one could have gone (each adds itself, sees the total over, and takes
itself back); both never go. The cache holds nothing that must survive: a cache
emptied during the day forgets the day's count, and sends that other clients of
the same account made are not counted. While the cache is down a message with caps
is not sent uncounted: it is retried (RETRY), as delivery's pace needs the cache too.

Every function takes `now` from the engine, so tests drive days with a simulated clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db.models import Q
from django.utils.translation import gettext_noop

from botadmin.cache import best_effort
from botadmin.reasons import Reason, stored_start
from connectors.base import DailyCap, Outcome, SendResult

logger = logging.getLogger(__name__)

# Real seconds a day's count is kept: past its day in every time zone, with a margin.
KEEP_SECONDS = 2 * 24 * 3600
# Why a message waits for a cap's next day: its attempt's answer and its last error.
HELD = gettext_noop("%(cap)s is reached: held until %(until)s %(zone)s")


@dataclass
class Taken:
    """What a message took from its caps: (cache key, uses per part) and how many parts."""

    uses: list[tuple[str, int]] = field(default_factory=list)
    parts: int = 0

    def give_back(self, parts: int) -> None:
        """Return the uses of `parts` parts that did not go out (nothing was delivered)."""
        parts = min(parts, self.parts)
        if parts <= 0 or not self.uses:
            return
        _decrement([(key, uses * parts) for key, uses in self.uses])
        self.parts -= parts


def take(caps: list[DailyCap], parts: int, now: datetime) -> Taken | SendResult:
    """Take `parts` sends' uses from each cap; the result to record instead of sending
    when one of them would pass its cap (RETRY, held until the cap's next day)."""
    if not caps:
        return Taken()
    for cap in caps:
        if cap.uses * parts > cap.limit:
            too_many = gettext_noop("%(cap)s is less than this message needs (%(uses)s): not sent")
            return SendResult(Outcome.FAILED, Reason(too_many, cap=cap.what, uses=cap.uses * parts))
    wanted = [(day_key(cap, now), cap.uses * parts) for cap in caps]
    counted: list[tuple[str, int]] = []
    try:
        for cap, (key, uses) in zip(caps, wanted, strict=True):
            cache.add(key, 0, timeout=KEEP_SECONDS)
            total = cache.incr(key, uses)
            counted.append((key, uses))
            if total > cap.limit:
                _decrement(counted)
                return _held(cap, total - uses, now)
    except Exception as error:  # the cache is down: send nothing uncounted
        _decrement(counted)
        logger.warning("Daily caps not counted: cache unavailable (%s)", error.__class__.__name__)
        uncounted = gettext_noop("the daily cap cannot be counted (shared cache: %(error)s)")
        return SendResult(Outcome.RETRY, Reason(uncounted, error=error.__class__.__name__))
    return Taken([(key, cap.uses) for (key, _uses), cap in zip(wanted, caps, strict=True)], parts)


def _held(cap: DailyCap, used: int, now: datetime) -> SendResult:
    until = next_day(cap, now)
    logger.warning(
        "Daily cap %s reached (%s of %s used): held until %s", cap.key, used, cap.limit, until
    )
    local = until.astimezone(ZoneInfo(cap.zone))
    reason = Reason(HELD, cap=cap.what, until=f"{local:%Y-%m-%d %H:%M}", zone=cap.zone_name)
    return SendResult(Outcome.RETRY, reason, hold_until=until)


def is_hold(reason: str) -> bool:
    """Whether a stored reason says a daily cap holds its message (`_held`)."""
    return isinstance(reason, Reason) and reason.msgid == HELD


def stored_holds() -> Q:
    """`is_hold` in a query: messages whose last error is a daily cap's hold."""
    return Q(last_error__startswith=stored_start(HELD))


def _decrement(uses: list[tuple[str, int]]) -> None:
    for key, count in uses:
        try:
            cache.decr(key, count)
        except ValueError:  # expired meanwhile: nothing left to give back to
            pass
        except Exception as error:  # the count stays high until its day ends: held sooner
            logger.warning("Daily cap %s not given back (%s)", key, error.__class__.__name__)


def day_key(cap: DailyCap, now: datetime) -> str:
    return f"daily-cap:{cap.key}:{now.astimezone(ZoneInfo(cap.zone)):%Y-%m-%d}"


def next_day(cap: DailyCap, now: datetime) -> datetime:
    """The next midnight in the cap's time zone, in UTC."""
    zone = ZoneInfo(cap.zone)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Use:
    cap: DailyCap
    used: int | None  # None: the cache cannot say


def used_today(caps: list[DailyCap], now: datetime) -> list[Use]:
    """How much of each cap today has used, for pages (which work without the cache)."""
    if not caps:
        return []
    keys = [day_key(cap, now) for cap in caps]
    counts = best_effort.attempt(cache.get_many, keys)
    if counts is None:
        return [Use(cap, None) for cap in caps]
    return [Use(cap, int(counts.get(key) or 0)) for cap, key in zip(caps, keys, strict=True)]
