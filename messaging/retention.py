"""Retention: messages older than their bot's limit are deleted every night.

A bot's `message_retention_days`, else BOTADMIN_MESSAGE_RETENTION_DAYS (unset:
kept for ever). With a message go its delivery attempts, its media (rows and
stored files) and its webhook deliveries with their attempts. Messages still
waiting to leave (scheduled, queued, sending) are never deleted.

Deletion goes in batches of BOTADMIN_RETENTION_BATCH_SIZE messages, each its
own short transaction found by primary key, so sends and callbacks keep
going while a large backlog is purged (SQLite holds its one write lock only
for one batch at a time). The operator-action audit log has its own limit
(BOTADMIN_AUDIT_RETENTION_DAYS), purged the same way, and so have the task_ids
of the template cards a bot used (BOTADMIN_CARD_TASK_ID_RETENTION_DAYS,
messaging/card_task_ids.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import OperatorAction
from conversations.models import Bot

from .media_retention import delete_unused_files
from .models import CardTaskId, Message, MessageMedia

logger = logging.getLogger(__name__)


@dataclass
class Purged:
    messages: int = 0
    batches: int = 0
    audit_entries: int = 0
    card_task_ids: int = 0


def retention_days(bot: Bot) -> int | None:
    return bot.message_retention_days or settings.BOTADMIN_MESSAGE_RETENTION_DAYS


def expired_messages(bot: Bot, before: datetime):
    return Message.objects.filter(bot=bot, created_at__lt=before).exclude(
        status__in=Message.Status.UNFINISHED
    )


def purge_expired(now: datetime | None = None) -> Purged:
    """Every bot's messages past its retention, then the audit log past its own."""
    now = now or timezone.now()
    purged = Purged()
    for bot in Bot.objects.all():
        days = retention_days(bot)
        if days:
            purge_bot(bot, now - timedelta(days=days), purged)
    audit_days = settings.BOTADMIN_AUDIT_RETENTION_DAYS
    if audit_days:
        before = now - timedelta(days=audit_days)
        purged.audit_entries = delete_in_batches(
            OperatorAction.objects.filter(created_at__lt=before)
        )
    card_days = settings.BOTADMIN_CARD_TASK_ID_RETENTION_DAYS
    if card_days:
        before = now - timedelta(days=card_days)
        purged.card_task_ids = delete_in_batches(CardTaskId.objects.filter(taken_at__lt=before))
    logger.info(
        "Retention: deleted %d messages in %d batches, %d audit entries and %d card task_ids",
        purged.messages,
        purged.batches,
        purged.audit_entries,
        purged.card_task_ids,
    )
    return purged


def purge_bot(bot: Bot, before: datetime, purged: Purged | None = None) -> Purged:
    purged = purged or Purged()
    size = settings.BOTADMIN_RETENTION_BATCH_SIZE
    while True:
        ids = list(expired_messages(bot, before).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return purged
        _delete_messages(ids)
        purged.messages += len(ids)
        purged.batches += 1


def _delete_messages(ids: list[int]) -> None:
    stored = set(
        MessageMedia.objects.filter(message_id__in=ids, stored_file__isnull=False).values_list(
            "stored_file_id", flat=True
        )
    )
    with transaction.atomic():
        # Django deletes the attempts, media rows and webhook deliveries with one
        # statement per table (none of them has signals or further dependents to
        # collect but the deliveries' attempts). The status filter again: a message
        # that was resent meanwhile stays.
        Message.objects.filter(pk__in=ids).exclude(status__in=Message.Status.UNFINISHED).delete()
    if stored:
        delete_unused_files(stored)


def delete_in_batches(rows: QuerySet, order_by: tuple[str, ...] = ("pk",)) -> int:
    """Delete these rows in batches of BOTADMIN_RETENTION_BATCH_SIZE, each its own short
    transaction (with the rows that cascade from them); how many. A batch deletes only
    the rows the query still matches, locked: one that changed meanwhile stays. `order_by`
    should follow an index the query uses, so each batch reads only its rows."""
    size = settings.BOTADMIN_RETENTION_BATCH_SIZE
    deleted = 0
    while True:
        ids = list(rows.order_by(*order_by).values_list("pk", flat=True)[:size])
        if not ids:
            return deleted
        with transaction.atomic():
            # Intent: hold the rows still matching until they are gone, so a change
            # racing the batch (a replayed delivery) either waits or keeps its row.
            # SQLite's IMMEDIATE transaction holds the one write lock instead.
            still = list(rows.filter(pk__in=ids).select_for_update().values_list("pk", flat=True))
            rows.model.objects.filter(pk__in=still).delete()
        deleted += len(still)
