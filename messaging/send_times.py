"""`send_at`, the time a scheduled message is sent, as the API reads it and answers it."""

import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from botadmin.errors import Err

from .field_errors import wrong_type

MAX_SCHEDULE_AHEAD = timedelta(days=366)


def parse_send_at(value) -> datetime | None:
    """`send_at` as ISO 8601 (naive: the server's TIME_ZONE) or Unix seconds; None if absent.

    A body's `send_at` of another JSON type (`true`, an object, `1.5`) is 40058 as the
    schema (`str | int`) words a wrong type; a string or integer it cannot read is 40035."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise wrong_type("send_at", "a string or an integer", value)
    when = None
    if isinstance(value, int) or _is_number(value):
        try:
            when = datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            when = None
    else:
        try:
            # RFC 3339 allows a lowercase t and z (2026-12-30t10:00:00z); Django reads
            # only the capitals, and ISO 8601 has no other letters a time could carry.
            when = parse_datetime(_offset_sign_restored(value.strip()).upper())
        except ValueError:
            when = None
        if when is not None and timezone.is_naive(when):
            when = timezone.make_aware(when)
    if when is None:
        raise Err.INVALID_PARAMETER.error(
            "invalid parameter: send_at must be ISO 8601 or Unix seconds"
        )
    if when > timezone.now() + MAX_SCHEDULE_AHEAD:
        raise Err.INVALID_PARAMETER.error("invalid parameter: send_at is more than a year ahead")
    return when


# A time followed by a space and an offset: "09:00:00 08:00" is how a query string's
# unencoded "+08:00" arrives ('+' means a space there). Nothing else reads so: a "-"
# offset arrives intact, and a space between date and time is followed by a date.
_SPACE_FOR_PLUS = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)$")


def _offset_sign_restored(value: str) -> str:
    return _SPACE_FOR_PLUS.sub(r"\1+\2", value)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip().replace(".", "", 1).isdigit()


def answered_send_at(message) -> str:
    """The `send_at` /api/send answers for `message` ("" for none): the one its first
    answer gave when it was stored under an Idempotency-Key (a replay answers the same
    bytes, the time in the offset the caller wrote), else its scheduled time, as the
    message holds it: as written when it was just stored, in UTC once read back (a row
    stored before `send_at_answered`)."""
    if message.send_at_answered is not None:
        return message.send_at_answered
    return message.scheduled_at.isoformat() if message.scheduled_at else ""
