"""The recipient lists of old announcement runs are forgotten: a run that started before
its bot's message retention (messaging/retention.py: the bot's own limit, else
BOTADMIN_MESSAGE_RETENTION_DAYS; none, none forgotten) and has no message left to make
keeps its count (`recipient_total`) and loses its list of conversation ids, which at
10,000 recipients a run is most of the table. Its messages are gone by then too.

A run that may still make messages (preparing, paused, failed) keeps its list. Each
batch of BOTADMIN_RETENTION_BATCH_SIZE runs is one UPDATE: the database counts the list
into `recipient_total` where that is not set yet (runs from before it existed), so no
list is read into memory.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Func, IntegerField, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations.models import Bot
from messaging.retention import retention_days

from .models import AnnouncementRun

logger = logging.getLogger(__name__)

Status = AnnouncementRun.Status
# Every message made, or none to make any more.
FINISHED = Q(fanned_out_at__isnull=False) | Q(status__in=[Status.CANCELLED, Status.MISSED])


class JSONArrayLength(Func):
    output_field = IntegerField()
    function = "json_array_length"  # SQLite's

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="jsonb_array_length", **extra_context)


def forget_old_recipients(now: datetime | None = None) -> int:
    """Empty the recipient lists of finished runs past their bot's message retention,
    keeping their counts; how many runs."""
    now = now or timezone.now()
    forgotten = 0
    for bot in Bot.objects.order_by("pk"):
        days = retention_days(bot)
        if days:
            forgotten += _forget(bot, now - timedelta(days=days))
    logger.info("Announcement retention: forgot the recipient lists of %d runs", forgotten)
    return forgotten


def _forget(bot: Bot, before: datetime) -> int:
    runs = (
        AnnouncementRun.objects.filter(FINISHED, announcement__bot=bot, started_at__lt=before)
        .exclude(recipient_ids=[])
        .order_by("pk")
    )
    size = settings.BOTADMIN_RETENTION_BATCH_SIZE
    done = 0
    while ids := list(runs.values_list("pk", flat=True)[:size]):
        done += AnnouncementRun.objects.filter(pk__in=ids).update(
            recipient_total=Coalesce("recipient_total", JSONArrayLength("recipient_ids")),
            recipient_ids=[],
        )
    return done
