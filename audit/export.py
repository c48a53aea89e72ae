"""The operator-action log as CSV (the console's download and `export_audit_log`),
streamed in keyset batches (botadmin/csv_export.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from django.db.models import QuerySet

from botadmin.csv_export import csv_lines

from .actions import codes, words
from .models import OperatorAction

BATCH_SIZE = 2000

HEADER = [
    "id",
    "created_at",
    "operator",
    "bot",
    "action",
    "operation",
    "target_type",
    "target_id",
    "target",
    "summary",
    "details",
]
FIELDS = [
    "id",
    "created_at",
    "actor_label",
    "actor__username",
    "bot_label",
    "bot__name",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "summary",
    "details",
]


def to_row(values: tuple) -> tuple:
    """The CSV cells of one entry read as FIELDS."""
    (pk, created_at, actor_label, username, bot_label, bot_name, action, *target) = values
    *target, summary, details = target
    return (
        pk,
        created_at,
        actor_label or username or "",
        bot_name or bot_label,  # the bot's name now; the one it had when deleted
        action,
        words(action),
        *target,
        summary,
        json.dumps(details, ensure_ascii=False, sort_keys=True) if details else "",
    )


def entries(
    queryset: QuerySet | None = None,
    *,
    bot_id: int | None = None,
    action: str = "",
    since: datetime | None = None,
    before: datetime | None = None,
) -> QuerySet:
    """The entries of `queryset` (default: all) matching the filters given."""
    rows = OperatorAction.objects.all() if queryset is None else queryset
    if bot_id:
        rows = rows.filter(bot_id=bot_id)
    if action:
        rows = rows.filter(action__in=codes(action))
    if since:
        rows = rows.filter(created_at__gte=since)
    if before:
        rows = rows.filter(created_at__lt=before)
    return rows


def audit_csv_lines(
    rows: QuerySet,
    to_row: Callable[[tuple], Sequence] = to_row,
    header: Sequence[str] = HEADER,
) -> Iterator[str]:
    """Newest first, one line an entry; `operation` is the action in the reader's words."""
    return csv_lines(rows, header, FIELDS, to_row, batch_size=BATCH_SIZE)
