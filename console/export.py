"""CSV export of the outbound messages (the audit page's), streamed in keyset batches
(botadmin/csv_export.py)."""

from collections.abc import Iterator

from django.db.models import QuerySet
from django.db.models.functions import Coalesce

from botadmin import csv_export

BATCH_SIZE = csv_export.BATCH_SIZE

COLUMNS = [
    ("msgid", "msgid"),
    ("created_at", "created_at"),
    ("bot", "bot__name"),
    ("conversation_id", "conversation__conversation_id"),
    ("conversation_name", "conversation__name"),
    ("msgtype", "msgtype"),
    ("sent_as", "sent_as"),
    ("conversion", "conversion"),
    ("source", "source"),
    ("operator", "operator_name"),
    ("status", "status"),
    ("attempts", "attempt_count"),
    ("sent_at", "sent_at"),
    ("last_error", "last_error"),
    ("content", "search_text"),
]


def csv_lines(queryset: QuerySet, batch_size: int | None = None) -> Iterator[str]:
    # A deleted user's messages keep the name they were made with.
    queryset = queryset.annotate(operator_name=Coalesce("created_by__username", "created_by_label"))
    return csv_export.csv_lines(
        queryset,
        [name for name, _ in COLUMNS],
        [path for _, path in COLUMNS],
        batch_size=batch_size or BATCH_SIZE,
    )
