"""CSV export of the audit log, streamed in keyset batches.

Memory stays flat however many rows match: each batch is one indexed query
continuing below the last id written, and rows go to the client as they are
formatted. No long transaction or server-side cursor is held open.
"""

import csv
from collections.abc import Iterator

from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

BATCH_SIZE = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

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


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return timezone.localtime(value).isoformat(timespec="seconds")
    text = str(value)
    # A cell starting with one of these would run as a formula in a spreadsheet
    # (OWASP's CSV injection list: a tab or carriage return before "=" too).
    return "'" + text if text[:1] in FORMULA_STARTS else text


def csv_lines(queryset: QuerySet, batch_size: int = BATCH_SIZE) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The byte-order mark makes spreadsheet programs read UTF-8 (Chinese) correctly.
    yield "\ufeff" + writer.writerow([name for name, _ in COLUMNS])
    fields = ["id", *(path for _, path in COLUMNS)]
    # A deleted user's messages keep the name they were made with.
    queryset = queryset.annotate(operator_name=Coalesce("created_by__username", "created_by_label"))
    before = None
    while True:
        batch = queryset.order_by("-id")
        if before is not None:
            batch = batch.filter(id__lt=before)
        rows = list(batch.values_list(*fields)[:batch_size])
        if not rows:
            return
        yield "".join(writer.writerow([_cell(v) for v in row[1:]]) for row in rows)
        before = rows[-1][0]
