"""What an edit of an announcement changed, for its audit entry: each changed field's
value before and after, read as an operator reads it (the text of the message, not its
JSON), so the audit log can say what was rewritten.

Kept in the entry's details as `changes`, a list of {"field", "before", "after"}: codes
(audience, msgtype) and the schedule as data, named in the reader's language when shown
(console/edit_changes.py); the operators' own words (title, text, search) as they are,
shortened. record_action masks secrets in them, the page escapes them."""

from botadmin.reasons import shorten
from messaging.validation import search_text

from .models import Announcement

# The longest text kept on each side: a message's text is at most a few thousand characters,
# and the entry says what was rewritten, not a copy of every version.
KEPT_CHARACTERS = 2000


def snapshot(announcement: Announcement) -> dict:
    """An announcement's fields an edit may change, as its audit entry compares them."""
    listed = announcement.audience == Announcement.Audience.LISTED
    return {
        "title": announcement.title,
        "text": search_text(announcement.body),
        "msgtype": announcement.msgtype,
        "audience": announcement.audience,
        "audience_search": announcement.audience_search,
        "saved_audience": announcement.saved_audience.name if announcement.saved_audience else "",
        "conversations": announcement.conversations.count() if listed else 0,
        "schedule": {
            "when": announcement.schedule_kind,
            "schedule": announcement.schedule,
            "timezone": announcement.timezone,
        },
    }


def changes(before: dict, after: dict) -> list[dict]:
    """The fields whose value differs, in the order of `snapshot`."""
    return [
        {"field": field, "before": _kept(before[field]), "after": _kept(after[field])}
        for field in before
        if before[field] != after[field]
    ]


def _kept(value):
    return shorten(value, KEPT_CHARACTERS) if isinstance(value, str) else value
