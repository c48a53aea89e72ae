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

from django.db import connection
from django.db.models import Count, F, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from botadmin.partial_indexes import index_condition
from conversations.models import Bot, Conversation

from .delivery_caps import stored_holds
from .delivery_claim import PENDING_STATUSES, held_by_uncertain, in_the_way
from .models import DUE_SINCE, QUEUED_OR_SENDING, QUEUED_OUTBOUND, Message

# Why a queued message is not due (the label of `botadmin_queue_held`).
DAILY_CAP, PACE, RETRY, PAUSED = "daily_cap", "pace", "retry", "paused"


# msg_bot_in_delivery_idx's condition: a bot's messages in delivery (queued or sending,
# which only outbound messages are).
IN_DELIVERY = Q(direction="out") & QUEUED_OR_SENDING


def _queued() -> QuerySet[Message]:
    """Queued outbound messages, through msg_bot_due_idx (its condition stated for SQLite)."""
    return Message.objects.filter(index_condition(QUEUED_OUTBOUND)).alias(due_since=DUE_SINCE)


# How many of a bot's messages whose time has come the walk of `overdue_since` looks at,
# each with a lookup of its conversation. Only a backlog behind held messages of its
# conversations gets that far (a chat at its daily cap, an agent down for hours whose
# first message waits for its retry): unbounded, a walk past 100,000 of them took 0.9 s
# on PostgreSQL. Past it, `_oldest_due_head` looks at each conversation once instead.
WALK = 1000


def _walk_end(now: datetime, bot: OuterRef) -> Subquery:
    """The time of the WALK-th message of the bot whose time has come, or None when it
    has fewer."""
    ahead = _queued().filter(bot=bot, due_since__lte=now)
    return Subquery(ahead.order_by("due_since").values(since=F("due_since"))[WALK - 1 : WALK])


def overdue_since(
    bot_ids: Iterable[int] | None = None, now: datetime | None = None
) -> dict[int, datetime]:
    """Per bot (of `bot_ids`, else every bot) that has a due message: since when its
    longest due one has been due. One query; per bot a walk of msg_bot_due_idx from its
    longest due message that stops at the first one nothing is in the way of, or after
    WALK messages. A bot whose walk met only messages something is in the way of, WALK
    of them, is asked again by `_oldest_due_head` (two more queries, for those bots)."""
    now = now or timezone.now()
    bots = Bot.objects.filter(is_active=True, paused_at__isnull=True)
    if bot_ids is not None:
        bots = bots.filter(pk__in=list(bot_ids))
    longest = (
        _queued()
        .filter(
            bot=OuterRef("pk"),
            due_since__lte=Coalesce(_walk_end(now, OuterRef(OuterRef("pk"))), Value(now)),
        )
        .exclude(in_the_way(now))
        .order_by("due_since")
        .values(since=F("due_since"))[:1]
    )
    rows = bots.annotate(overdue_since=Subquery(longest)).order_by()
    found, none_found = {}, []
    for pk, since in rows.values_list("pk", "overdue_since"):
        if since is not None:
            found[pk] = since
        else:
            none_found.append(pk)
    # The bots whose walk ended at WALK: asked apart, of those it found none of (in the
    # query above, the walk's end was read twice for every bot, doubling its cost).
    walked_past = none_found and list(
        Bot.objects.filter(pk__in=none_found)
        .annotate(walk_end=_walk_end(now, OuterRef("pk")))
        .filter(walk_end__isnull=False)
        .values_list("pk", flat=True)
    )
    if walked_past:
        found.update(_oldest_due_head(walked_past, now))
    return found


def _oldest_due_head(bot_ids: list[int], now: datetime) -> dict[int, datetime]:
    """`overdue_since` for bots with more due messages behind others than a walk takes.
    Only a conversation's head can be due (its oldest message in delivery), so only heads
    are looked at (`_heads`), the other bots' messages never."""
    rows = (
        _queued()
        .filter(pk__in=_heads(bot_ids), bot__in=bot_ids, due_since__lte=now)
        .exclude(held_by_uncertain(now))
        .values("bot_id")
        .annotate(since=Min("due_since"))
        .order_by()
        .values_list("bot_id", "since")
    )
    return dict(rows)


def _heads(bot_ids: list[int]) -> QuerySet:
    """The ids of the oldest message in delivery of each conversation of these bots.

    PostgreSQL: the bots' messages in delivery grouped by conversation, each read once
    through msg_bot_in_delivery_idx (every message in delivery is outbound). Looked up
    conversation by conversation by id, PostgreSQL walked the primary key forward instead
    for each conversation with none when messages in delivery were most of the table: the
    whole table read once per contact (docs/performance.md, note 27).

    SQLite, which has no statistics and would read each bot's whole history for that
    grouping (through msg_bot_idx): each of the bots' conversations looked up once in
    msg_conversation_delivery_idx. (Grouping that index, which has no bot, read every bot's
    messages in delivery: 1.1-2.3 s on PostgreSQL beside another bot's announcement to
    100,000; note 16.)"""
    if connection.vendor == "postgresql":
        return (
            Message.objects.filter(index_condition(IN_DELIVERY), bot__in=bot_ids)
            .values("conversation_id")
            .annotate(head=Min("pk"))
            .values("head")
        )
    first_in_delivery = (
        Message.objects.filter(PENDING_STATUSES, conversation_id=OuterRef("pk"))
        .order_by("pk")
        .values("pk")[:1]
    )
    return (
        Conversation.objects.filter(bot__in=bot_ids)
        .annotate(head=Subquery(first_in_delivery))
        .values("head")
    )


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
