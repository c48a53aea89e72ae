"""The audit page's CSV downloads, streamed in keyset batches (botadmin/csv_export.py):
the outbound messages, and the operator actions as the page shows them."""

from collections.abc import Iterator, Sequence

from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone, translation

from audit import export as audit_export
from audit.models import OperatorAction
from botadmin import csv_export

from .action_summaries import summary

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


# The operator actions' download: `summary` is the page's description, in the language of
# the operator who downloads it (and their time zone); the English text recorded with the
# entry follows the other columns.
OPERATOR_ACTION_HEADER = [*audit_export.HEADER, "summary_as_recorded"]
SUMMARY_COLUMN = audit_export.HEADER.index("summary")


def operator_action_lines(rows: QuerySet) -> Iterator[str]:
    """The entries `rows` as the audit page reads them, in the current language and time
    zone: kept for the streaming, which runs after the view has returned."""

    def to_row(values: tuple) -> Sequence:
        fields = dict(zip(audit_export.FIELDS, values, strict=True))
        entry = OperatorAction(
            action=fields["action"],
            target_type=fields["target_type"],
            target_id=fields["target_id"],
            summary=fields["summary"],
            details=fields["details"],
        )
        cells = list(audit_export.to_row(values))
        cells[SUMMARY_COLUMN] = summary(entry)
        return [*cells, entry.summary]

    lines = audit_export.audit_csv_lines(rows, to_row, OPERATOR_ACTION_HEADER)
    return _as_now(lines, translation.get_language(), timezone.get_current_timezone())


def _as_now(lines: Iterator[str], language: str, zone) -> Iterator[str]:
    """`lines`, each batch written in this language and time zone."""
    while True:
        with translation.override(language), timezone.override(zone):
            batch = next(lines, None)
        if batch is None:
            return
        yield batch
