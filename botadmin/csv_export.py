"""CSV exports streamed in keyset batches (the console's downloads, the export commands).

Memory stays flat however many rows match: each batch is one indexed query continuing
below the last id written, and rows go out as they are formatted. No long transaction
or server-side cursor is held open.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence

from django.db.models import QuerySet
from django.utils import timezone

BATCH_SIZE = 2000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value):
        return value


def cell(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return timezone.localtime(value).isoformat(timespec="seconds")
    text = str(value)
    # A cell starting with one of these would run as a formula in a spreadsheet
    # (OWASP's CSV injection list: a tab or carriage return before "=" too).
    return "'" + text if text[:1] in FORMULA_STARTS else text


def csv_lines(
    queryset: QuerySet,
    header: Sequence[str],
    fields: Sequence[str],
    to_row: Callable[[tuple], Sequence] = tuple,
    batch_size: int = BATCH_SIZE,
) -> Iterator[str]:
    """The header, then a line for each row of `queryset`, newest id first: `fields`
    read with `values_list`, turned into the cells by `to_row`."""
    writer = csv.writer(_Echo())
    # The byte-order mark makes spreadsheet programs read UTF-8 (Chinese) correctly.
    yield "\ufeff" + writer.writerow(header)
    before = None
    while True:
        batch = queryset.order_by("-id")
        if before is not None:
            batch = batch.filter(id__lt=before)
        rows = list(batch.values_list("id", *fields)[:batch_size])
        if not rows:
            return
        yield "".join(writer.writerow([cell(v) for v in to_row(row[1:])]) for row in rows)
        before = rows[-1][0]
