"""An announcement edit's audit entry, what changed: each field's name, value before and
after, in the reader's language (announcements/edit_changes.py keeps them as data)."""

from django.utils.translation import gettext, ngettext

from announcements.models import Announcement
from announcements.schedule import in_words
from botadmin.msgtype_names import msgtype_name


def _audience(code) -> str:
    return str(Announcement.Audience(code).label) if code in Announcement.Audience.values else ""


def _schedule(value) -> str:
    if not isinstance(value, dict) or value.get("when") not in Announcement.Kind.values:
        return ""
    spec = value.get("schedule") if isinstance(value.get("schedule"), dict) else {}
    words = in_words(Announcement(schedule_kind=value["when"], schedule=spec))
    zone = value.get("timezone")
    if isinstance(zone, str) and zone and value["when"] != Announcement.Kind.NOW:
        return f"{words} · {gettext('time zone')} {zone}"
    return words


def _conversations(count) -> str:
    if not isinstance(count, int):
        return ""
    return ngettext("%(n)d conversation", "%(n)d conversations", count) % {"n": count}


# Each field's name and how its stored value reads.
FIELDS = {
    "title": (lambda: gettext("Title"), str),
    "text": (lambda: gettext("Text"), str),
    "msgtype": (lambda: gettext("Message type"), lambda code: msgtype_name(str(code or ""))),
    "audience": (lambda: gettext("Recipients"), _audience),
    "audience_search": (lambda: gettext("Search"), str),
    "saved_audience": (lambda: gettext("Saved audience"), str),
    "conversations": (lambda: gettext("Chosen conversations"), _conversations),
    "schedule": (lambda: gettext("When"), _schedule),
}


def edit_changes(action) -> list[tuple[str, str, str]]:
    """(field, before, after) for each change the entry records; none for another entry or
    one recorded before edits kept their changes. An empty value reads as "—"."""
    details = action.details if isinstance(action.details, dict) else {}
    found = details.get("changes")
    if action.action != "announcement.edit" or not isinstance(found, list):
        return []
    rows = []
    for change in found:
        if not isinstance(change, dict) or change.get("field") not in FIELDS:
            continue
        label, words = FIELDS[change["field"]]
        before, after = (words(change.get(side)) or "—" for side in ("before", "after"))
        rows.append((label(), before, after))
    return rows
