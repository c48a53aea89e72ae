"""How a message's delivery state is named to an operator, the same on every page.

A queued message that has already been tried is waiting for its next attempt:
it is shown as "waiting to retry", not as a fresh "queued" one. A queued message
whose next attempt is still to come says until when, and why (`waiting`): a
retry's backoff (its last error), a daily cap's hold until the cap's next day
(messaging/delivery_caps.py), or its pace (messaging/delivery_pace.py). One whose
bot's sending is paused says it waits for that (`held_by_pause`), and one behind
older messages of its conversation (each conversation sends in order) how many
(`with_messages_ahead`). Derived
from `next_attempt_at`, the attempt count and the last error: no status of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, Count, IntegerField, OuterRef, QuerySet, Subquery, When
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from botadmin.partial_indexes import index_condition
from botadmin.reasons import Reason

from . import delivery_caps
from .models import PENDING, Message
from .outbox import delivery_schedule, latest_give_up

WAITING_TO_RETRY = "retrying"  # the badge's CSS class
WAITING = "waiting"  # the badge's CSS class: held back until a time, not tried yet
# Why a message not tried yet (nor held by a daily cap) waits: the claim gave it a
# wait for its bot's rate or its conversation's gap instead of sending it.
PACED = gettext_noop(
    "keeping the sending pace (the bot's rate limit or the conversation's minimum gap)"
)


@dataclass(frozen=True)
class Wait:
    """Until when a queued message waits for its next attempt, and why (a stored reason,
    translated where it is shown; "" when its retry left none)."""

    until: datetime
    reason: str
    paced: bool  # the reason is its pace, not its last error


def held_by_pause(message: Message) -> bool:
    """A queued message whose bot's sending is paused: it waits for the resume. Known only
    when its bot was read with it (select_related, or set by the page): never a query."""
    if message.status != Message.Status.QUEUED or not Message.bot.is_cached(message):
        return False
    return message.bot.paused_at is not None


def waiting(message: Message, now: datetime | None = None) -> Wait | None:
    """A queued message's wait for a later attempt, or None when it is not waiting for one
    (or for its bot's resume: `held_by_pause`)."""
    until = message.next_attempt_at
    if message.status != Message.Status.QUEUED or until is None or held_by_pause(message):
        return None
    if until <= (now or timezone.now()):
        return None
    if message.attempt_count or delivery_caps.is_hold(message.last_error):
        return Wait(until, message.last_error, paced=False)
    return Wait(until, Reason(PACED), paced=True)


@dataclass(frozen=True)
class RetryPlan:
    """Where a message waiting to retry is in the retry policy (DELIVERY_MAX_ATTEMPTS,
    DELIVERY_RETRY_BASE_DELAY doubling): its attempt, of how many, and when it is given
    up at the latest if each one left fails too."""

    failed: int
    total: int
    give_up_by: datetime


def retry_plan(message: Message, now: datetime | None = None) -> RetryPlan | None:
    """The retry policy as it applies to a message waiting for its next attempt after a
    failed one; None for any other (a daily cap's hold, a pause, not tried yet)."""
    wait = waiting(message, now)
    if wait is None or wait.paced or not message.attempt_count:
        return None
    if delivery_caps.is_hold(message.last_error):
        return None
    schedule = delivery_schedule()
    give_up_by = latest_give_up(schedule, message.attempt_count, wait.until)
    if give_up_by is None:
        return None
    return RetryPlan(message.attempt_count, len(schedule.delays) + 1, give_up_by)


def clock_time(moment: datetime, now: datetime | None = None) -> str:
    """A time to come (or gone by) in the reader's time zone, dated unless it is today:
    "09:30" today, "09:30 tomorrow" / "18:00 yesterday" on the days beside today,
    "12-09 09:30" on another day of this year, "2027-01-05 09:30" of another year. Within
    an hour of now with its seconds ("09:13:27"), unless it is on a whole minute: "until
    09:13" read at 09:13:05 would seem past already. The day is the reader's, not how far
    off the moment is: at 17:15 a daily run's next 09:30 is tomorrow's, though it is
    under a day away."""
    local = timezone.localtime(moment)
    now = now or timezone.now()
    if abs(moment - now) < timedelta(hours=1) and (local.second or local.microsecond):
        time = f"{local:%H:%M:%S}"
    else:
        time = f"{local:%H:%M}"
    days = (local.date() - timezone.localtime(now).date()).days
    if days == 0:
        return time
    if days == 1:
        return gettext("%(time)s tomorrow") % {"time": time}
    if days == -1:
        return gettext("%(time)s yesterday") % {"time": time}
    if local.year == timezone.localtime(now).year:
        return f"{local:%m-%d} {time}"
    return f"{local:%Y-%m-%d} {time}"


def status_key(status: str, attempt_count: int, until: datetime | None = None) -> str:
    """The badge class: the status, "retrying" for a queued message already tried, or
    "waiting" for one not tried yet that waits `until` a time (`waiting`)."""
    if status == Message.Status.QUEUED and attempt_count:
        return WAITING_TO_RETRY
    if status == Message.Status.QUEUED and until is not None:
        return WAITING
    return status


def status_label(
    status: str, attempt_count: int, until: datetime | None = None, now: datetime | None = None
) -> str:
    """The status in words; "waiting until 00:00" while a queued message waits `until` a
    time (`waiting`), "waiting to retry" for one already tried and due again."""
    if status == Message.Status.QUEUED and until is not None:
        return gettext("Waiting until %(time)s") % {"time": clock_time(until, now)}
    if status_key(status, attempt_count) == WAITING_TO_RETRY:
        return str(_("Waiting to retry"))
    return str(Message.Status(status).label) if status in Message.Status.values else status


def message_status(message: Message, now: datetime | None = None) -> tuple[str, str]:
    """(badge class, words) of a message's status, its wait included."""
    if held_by_pause(message):
        return WAITING, gettext("Waiting: the bot is paused")
    wait = waiting(message, now)
    until = wait.until if wait else None
    return (
        status_key(message.status, message.attempt_count, until),
        status_label(message.status, message.attempt_count, until, now),
    )


def with_messages_ahead(messages: QuerySet) -> QuerySet:
    """`messages` with `ahead`: for a queued one, how many older messages of its
    conversation are still in delivery before it (a conversation sends in order), else
    None. One query for the page: each count is a range of the partial index
    msg_conversation_delivery_idx, (conversation, id) of the messages in delivery."""
    older = (
        Message.objects.filter(
            index_condition(PENDING),
            conversation_id=OuterRef("conversation_id"),
            pk__lt=OuterRef("pk"),
        )
        .order_by()
        .values("conversation_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return messages.annotate(
        ahead=Case(
            When(status=Message.Status.QUEUED, then=Subquery(older[:1])),
            output_field=IntegerField(),
        )
    )
