"""The media archive over time: files past BOTADMIN_MEDIA_RETENTION_DAYS are deleted
nightly, and how much each bot keeps is reported on the dashboard.

Retention expires media rows, not messages: a stored row older than the limit
becomes `expired` (the timeline says "media expired") and lets go of its file;
a file no row shows any more is then deleted from the store. A file that a
newer message shows too stays (content addressing keeps one copy for both).
Batches are short transactions, like the message retention's.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from media import store
from media.models import StoredFile

from .models import Message, MessageMedia

logger = logging.getLogger(__name__)

Status = MessageMedia.Status


def expire_media(now: datetime | None = None) -> int:
    """Expire stored media older than BOTADMIN_MEDIA_RETENTION_DAYS; how many rows."""
    days = settings.BOTADMIN_MEDIA_RETENTION_DAYS
    if not days:
        return 0
    before = (now or timezone.now()) - timedelta(days=days)
    size = settings.BOTADMIN_RETENTION_BATCH_SIZE
    expired = 0
    while True:
        rows = list(
            MessageMedia.objects.filter(status=Status.STORED, created_at__lt=before)
            # A message still to be sent needs its upload's bytes (messaging/uploads.py).
            .exclude(message__status__in=Message.Status.UNFINISHED)
            .order_by("created_at")
            .values_list("pk", "message_id", "stored_file_id")[:size]
        )
        if not rows:
            break
        with transaction.atomic():
            MessageMedia.objects.filter(pk__in=[r[0] for r in rows], status=Status.STORED).update(
                status=Status.EXPIRED, stored_file=None
            )
            # The timeline's bubbles show the media: they changed.
            Message.objects.filter(pk__in={r[1] for r in rows}).update(updated_at=timezone.now())
        delete_unused_files({r[2] for r in rows})
        expired += len(rows)
    logger.info("Media retention: %d media expired", expired)
    return expired


def delete_unused_files(stored_file_ids) -> int:
    """Delete the stored files among these that no media row shows and no upload keeps."""
    return store.delete_files(StoredFile.objects.filter(pk__in=stored_file_ids, **UNUSED))


# A stored file nothing refers to: no message's media row, no live upload.
UNUSED = {"uses__isnull": True, "uploads__isnull": True}


# A file stored a moment ago may not be linked yet (its message is being saved).
ORPHAN_GRACE = timedelta(days=1)


def delete_orphaned_files(now: datetime | None = None) -> int:
    """Delete stored files that nothing shows or keeps: no media row, no upload.

    Retention deletes a file when it expires the last media row showing it; a
    file whose rows went another way (a message deleted in the Django admin, a
    bot deleted with its uploads) is found here instead, after ORPHAN_GRACE. Safe to run twice: a
    file something took meanwhile stays (PROTECT)."""
    before = (now or timezone.now()) - ORPHAN_GRACE
    size = settings.BOTADMIN_RETENTION_BATCH_SIZE
    deleted, after_pk = 0, 0
    while True:
        rows = list(
            StoredFile.objects.filter(pk__gt=after_pk, created_at__lt=before, **UNUSED).order_by(
                "pk"
            )[:size]
        )
        if not rows:
            break
        after_pk = rows[-1].pk  # before deleting: a deleted row's pk is None
        deleted += store.delete_files(rows)
    if deleted:
        logger.info("Media retention: %d files nothing showed deleted", deleted)
    return deleted


def storage_used(bot_ids: list[int]) -> dict[int, tuple[int, int]]:
    """bot id → (files, bytes) it keeps in the archive, each file counted once per bot.

    One grouped query over the bots' stored media (the dashboard caches it)."""
    if not bot_ids:
        return {}
    media, message, stored = (
        MessageMedia._meta.db_table,
        Message._meta.db_table,
        StoredFile._meta.db_table,
    )
    placeholders = ", ".join(["%s"] * len(bot_ids))
    sql = (
        f"SELECT u.bot_id, COUNT(*), SUM(f.size) FROM ("  # noqa: S608 (table names, placeholders)
        f"SELECT DISTINCT m.bot_id AS bot_id, mm.stored_file_id AS file_id FROM {media} mm "
        f"JOIN {message} m ON m.id = mm.message_id "
        f"WHERE mm.status = %s AND m.bot_id IN ({placeholders})"
        f") u JOIN {stored} f ON f.id = u.file_id GROUP BY u.bot_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Status.STORED, *bot_ids])
        return {bot_id: (files, int(total or 0)) for bot_id, files, total in cursor.fetchall()}
