"""The outbound queue as a health signal: since when its due messages have waited, and
what it holds back on purpose.

"The oldest queued message" is read in three places — the dashboard's card, the
`botadmin_queue_oldest_age_seconds` gauge (its alert, BotadminQueueStuck) and /readyz's
`queue` — all through `overdue_since`, so they say the same. A message counts there only
while the delivery engine should be sending it (messaging/delivery.py's "due"): queued,
its time come (`next_attempt_at` empty or past), its bot active and not paused, and
nothing older of its conversation in its way. It has waited since it became due
(`DUE_SINCE`: its next attempt's time, else its scheduled time, else its creation), not
since it was made: a message scheduled yesterday for 09:00 is not a day late at 09:00.

What waits on purpose is not overdue, and is counted apart (`waiting_on_purpose`): held
by a daily cap until the cap's next day (messaging/delivery_caps.py), keeping its pace
(messaging/delivery_pace.py), waiting for its retry, and a paused bot's queue
(messaging/status_labels.py names each the same way on a message). So is a message
behind one of those in its conversation, which no count names.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from botadmin.partial_indexes import index_condition
from conversations.models import Bot

from .delivery_caps import stored_holds
from .delivery_claim import in_the_way
from .models import DUE_SINCE, QUEUED_OUTBOUND, Message

# Why a queued message is not due (the label of `botadmin_queue_held`).
DAILY_CAP, PACE, RETRY, PAUSED = "daily_cap", "pace", "retry", "paused"


def _queued() -> QuerySet[Message]:
    """Queued outbound messages, through msg_bot_due_idx (its condition stated for SQLite)."""
    return Message.objects.filter(index_condition(QUEUED_OUTBOUND)).alias(due_since=DUE_SINCE)


# How many of a bot's messages whose time has come the walk of `overdue_since` looks at,
# each with a lookup of its conversation. Only a backlog behind held messages of its
# conversations gets that far (a chat at its daily cap, an agent down for hours whose
# first message waits for its retry): unbounded, a walk past 100,000 of them took 0.9 s
# on PostgreSQL. A due message past them is not seen until the backlog shrinks; stopped
# workers still show in the heartbeats and in every other bot's figure.
WALK = 1000


def _walk_end(now: datetime) -> Subquery:
    """The time of the WALK-th message of the (outer query's) bot whose time has come,
    or None when it has fewer."""
    ahead = _queued().filter(bot=OuterRef(OuterRef("pk")), due_since__lte=now)
    return Subquery(ahead.order_by("due_since").values(since=F("due_since"))[WALK - 1 : WALK])


def overdue_since(
    bot_ids: Iterable[int] | None = None, now: datetime | None = None
) -> dict[int, datetime]:
    """Per bot (of `bot_ids`, else every bot) that has a due message: since when its
    longest due one has been due. One query; per bot a walk of msg_bot_due_idx from its
    longest due message that stops at the first one nothing is in the way of, or after
    WALK messages."""
    now = now or timezone.now()
    bots = Bot.objects.filter(is_active=True, paused_at__isnull=True)
    if bot_ids is not None:
        bots = bots.filter(pk__in=list(bot_ids))
    longest = (
        _queued()
        .filter(bot=OuterRef("pk"), due_since__lte=Coalesce(_walk_end(now), Value(now)))
        .exclude(in_the_way(now))
        .order_by("due_since")
        .values(since=F("due_since"))[:1]
    )
    rows = (
        bots.annotate(overdue_since=Subquery(longest)).order_by().values_list("pk", "overdue_since")
    )
    return {pk: since for pk, since in rows if since is not None}


def waiting_until_later(now: datetime) -> QuerySet[Message]:
    """Queued messages of active, unpaused bots that wait until a time to come: a daily
    cap's hold, their pace, their retry."""
    return _queued().filter(due_since__gt=now, bot__is_active=True, bot__paused_at__isnull=True)


def held_by_cap(now: datetime) -> QuerySet[Message]:
    """Messages a daily cap holds until its next day."""
    return waiting_until_later(now).filter(stored_holds())


def held_by_pause() -> QuerySet[Message]:
    """The queues of paused bots: they wait for the resume, whatever else they wait for."""
    return _queued().filter(bot__is_active=True, bot__paused_at__isnull=False)


def waiting_on_purpose(now: datetime | None = None) -> dict[int, dict[str, int]]:
    """Per bot, its queued messages that are not due, by why: DAILY_CAP, PACE, RETRY or
    PAUSED (a paused bot's whole queue). Exact counts; each query reads only those
    messages (msg_bot_due_idx)."""
    now = now or timezone.now()
    not_a_hold = ~stored_holds()
    counts: dict[int, dict[str, int]] = {}
    for row in (
        waiting_until_later(now)
        .values("bot_id")
        .annotate(
            **{
                DAILY_CAP: Count("pk", filter=stored_holds()),
                PACE: Count("pk", filter=Q(attempt_count=0) & not_a_hold),
                RETRY: Count("pk", filter=Q(attempt_count__gt=0) & not_a_hold),
            }
        )
        .order_by()
    ):
        counts[row.pop("bot_id")] = row
    # By the paused bots' ids: joined with the bots instead, PostgreSQL read the whole queue.
    paused_bots = Bot.objects.filter(is_active=True, paused_at__isnull=False)
    for bot_id, paused in (
        held_by_pause()
        .filter(bot__in=list(paused_bots.values_list("pk", flat=True)))
        .values("bot_id")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("bot_id", "n")
    ):
        counts[bot_id] = {PAUSED: paused}
    return counts
