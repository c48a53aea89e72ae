"""Whether a bot's sending is blocked: a message of its has been failing and waiting to
retry for a while (WeCom unreachable, the agent down), which the bots list shows instead
of "running", with the last error and since when.

Read for the whole list in its one query (`with_blocked_sending`): per bot, its oldest
outbound message in delivery that has failed an attempt (a walk up the bot's queue by
time, msg_bot_in_delivery_idx, that stops at the first tried one), that message's first
attempt and its last error. Nothing is stored: it is what the delivery attempts say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from botadmin.partial_indexes import index_condition

from . import delivery_caps
from .models import QUEUED_OR_SENDING, DeliveryAttempt, Message

# A message failing for less than this is not called blocked yet: a single failure
# followed by a delivery at its first retry (30 s later) is routine.
BLOCKED_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class BlockedSending:
    since: datetime  # the first failed attempt of the oldest message still waiting to retry
    reason: str  # its last error, a Reason where one was stored


def with_blocked_sending(bots: QuerySet) -> QuerySet:
    """`bots` with what `blocked_sending` reads, in the same query."""
    failing = (
        Message.objects.filter(
            index_condition(QUEUED_OR_SENDING),
            bot=OuterRef("pk"),
            direction=Message.Direction.OUT,
            attempt_count__gt=0,
        )
        # Sending for the first time is no failure yet; queued again after one is.
        .filter(Q(status=Message.Status.QUEUED) | Q(attempt_count__gt=1))
        .order_by("created_at")
    )
    first_attempt = DeliveryAttempt.objects.filter(message=OuterRef("failing_message")).order_by(
        "started_at"
    )
    that_message = Message.objects.filter(pk=OuterRef("failing_message"))
    return bots.annotate(failing_message=Subquery(failing.values("pk")[:1])).annotate(
        failing_since=Subquery(first_attempt.values("started_at")[:1]),
        failing_error=Subquery(that_message.values("last_error")[:1]),
    )


def blocked_sending(bot, now: datetime | None = None) -> BlockedSending | None:
    """Whether the bot (read through `with_blocked_sending`) is blocked, since when and
    why; None while it sends, is paused (which says so itself) or waits for a daily cap."""
    since, reason = getattr(bot, "failing_since", None), getattr(bot, "failing_error", "")
    if since is None or bot.paused_at is not None or delivery_caps.is_hold(reason):
        return None
    if (now or timezone.now()) - since < BLOCKED_AFTER:
        return None
    return BlockedSending(since, reason)
