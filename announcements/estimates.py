"""How long a run takes at its bot's pace, behind the messages the bot has queued."""

from datetime import timedelta

from botadmin.partial_indexes import index_condition
from conversations.models import Bot
from messaging.models import QUEUED_OR_SENDING, Message

from .models import Announcement


def estimated_duration(recipients: int, bot: Bot, waiting: int = 0) -> timedelta:
    """How long the delivery engine needs for `recipients` messages at the bot's pace.

    The pace is the bot's, shared by all workers and by everything the bot sends
    (messaging/delivery_pace.py): `waiting` messages already queued for it go first.
    """
    return timedelta(minutes=(recipients + waiting) / max(bot.rate_limit_per_minute, 1))


def run_estimate(
    recipients: int, bot: Bot, *, starts_now: bool, besides: Announcement | None = None
) -> tuple[timedelta, int]:
    """How long a run to `recipients` takes, and how many of the bot's messages it waits
    behind. Only a run starting now waits behind the messages queued now; a later run's
    backlog is not known yet, so its estimate is the pace alone."""
    waiting = messages_waiting(bot, besides=besides) if starts_now else 0
    return estimated_duration(recipients, bot, waiting), waiting


def messages_waiting(bot: Bot, besides: Announcement | None = None) -> int:
    """The bot's outbound messages queued or being sent now, other than `besides`' own.

    Two counts, each read from an index alone: the bot's queue (msg_bot_in_delivery_idx,
    whose condition the query states for SQLite) less `besides`' messages in it
    (msg_run_status_idx). Leaving them out row by row read every message of the queue,
    100,000 while a run to 100,000 conversations is sending."""
    waiting = Message.objects.filter(
        index_condition(QUEUED_OR_SENDING), bot=bot, direction=Message.Direction.OUT
    ).count()
    if besides is not None:
        waiting -= Message.objects.filter(
            announcement_run__in=besides.runs.values("pk"),
            status__in=Message.Status.IN_DELIVERY,
        ).count()
    return waiting
