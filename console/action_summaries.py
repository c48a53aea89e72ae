"""What an operator action did, in the reader's language: the audit page's description
column and the console's CSV download of the same entries.

An entry's stored `summary` is English, written when it was recorded (the logs and
`export_audit_log` keep it so); this reads the parts worth showing from its `details`
and its code instead, translated now.
"""

import re
from datetime import datetime

from django.apps import apps
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext

from announcements.models import Announcement
from announcements.schedule import in_words
from audit import actions as audit_actions
from botadmin import reasons
from conversations.bot_secrets import secret_label
from forwarding.replay import test_event_outcome


def summary(action) -> str:
    """The part of a stored summary worth showing in the operator's language: the
    operator's own words (a title), the settings changed, a test's outcome, the
    secret revealed, a deleted endpoint's URL, the operator added or removed, a
    rotation's grace."""
    if action.action in audit_actions.SUMMARY_IS_CONTENT:
        return action.summary
    if action.action in audit_actions.ABOUT_AN_ANNOUNCEMENT_SAVED:
        return _announcement_saved(action.details or {})
    if action.action == "bot.check_connection" and "ok" in (action.details or {}):
        # The words of a test event's outcome ("Failure · HTTP 500"), which it stands beside.
        return gettext("Success") if action.details["ok"] else gettext("Failure")
    if action.action == "secret.reveal" and "secret" in (action.details or {}):
        return secret_label(str(action.details["secret"]))  # which one, never its value
    if action.action in EXPORTS:
        return _exported(action.details or {})
    if action.action == "endpoint.delete":  # the row is gone: its URL says which it was
        return str((action.details or {}).get("url", ""))
    if action.action in audit_actions.SUMMARY_IS_FIELDS and action.target_type:
        return _field_names(action)
    if action.action in audit_actions.ABOUT_AN_OPERATOR:
        return str((action.details or {}).get("username", ""))
    if action.action == "endpoint.test":
        return test_event_outcome(action)
    if action.action == "delivery.replay_many":
        return _replayed(action.details or {})
    if action.action == "bot.pause_sending":
        return _paused(action.details or {})
    if action.action in ROTATIONS:
        return _grace(action)
    return ""


# A rotation's entry says how long the old secret kept working: "none" is the one that
# made callers still using it fail at once. (The API secret's entries hold it in their
# summary alone, "Rotated the API secret (grace 24 h) in the console.")
ROTATIONS = {"secret.rotate", "endpoint.rotate_signing_secret"}
_GRACE_IN_SUMMARY = re.compile(r"\(grace ([0-9.]+) h\)")


def _grace(action) -> str:
    hours = (action.details or {}).get("grace_hours")
    if not isinstance(hours, (int, float)):
        found = _GRACE_IN_SUMMARY.search(action.summary or "")
        if not found:
            return ""
        hours = float(found.group(1))
    if hours <= 0:
        return gettext("the old secret stopped working at once")
    return gettext("the old secret kept working for %(hours)s h") % {"hours": f"{hours:g}"}


EXPORTS = {"messages.export", "audit.export"}
EXPORTED_VIA = {
    "console": gettext_lazy("via the console"),
    "command line": gettext_lazy("via the command line"),
}


def _exported(details: dict) -> str:
    """What an export held: its filters (the range, the bot, an operation in words), how
    many rows the command line wrote, and how it was made."""
    filters = details.get("filters") if isinstance(details.get("filters"), dict) else {}
    shown = [
        f"{name}={audit_actions.words(value) if name == 'action' else value}"
        for name, value in filters.items()
        if value
    ]
    parts = [", ".join(shown)] if shown else []
    if isinstance(count := details.get("count"), int):
        parts.append(ngettext("%(n)d row", "%(n)d rows", count) % {"n": count})
    if details.get("via") in EXPORTED_VIA:
        parts.append(str(EXPORTED_VIA[details["via"]]))
    return " · ".join(parts)


PAUSED_BY = {
    "delivery": gettext_lazy("by delivery"),
    "connection": gettext_lazy("by the long connection"),
}


def _paused(details: dict) -> str:
    """What paused the bot, why, and how many of its messages wait."""
    parts = [str(PAUSED_BY[by]) for by in [details.get("by")] if by in PAUSED_BY]
    if reason := reasons.translate(reasons.from_json(details.get("reason"))):
        parts.append(reason)
    if isinstance(waiting := details.get("waiting"), int):
        parts.append(
            ngettext("%(n)d message waiting", "%(n)d messages waiting", waiting) % {"n": waiting}
        )
    return " · ".join(parts)


def _announcement_saved(details: dict) -> str:
    """To whom and when a saved announcement goes ("选定的会话 · 每天 09:30"), from its
    entry's details (an entry recorded before they held the schedule names its kind)."""
    parts = []
    if details.get("audience") in Announcement.Audience.values:
        parts.append(str(Announcement.Audience(details["audience"]).label))
    if details.get("when") in Announcement.Kind.values:
        schedule = details.get("schedule") if isinstance(details.get("schedule"), dict) else {}
        parts.append(in_words(Announcement(schedule_kind=details["when"], schedule=schedule)))
        # The schedule's times are the announcement's zone's, not the log's (the server's),
        # said as its page says it.
        zone = details.get("timezone")
        if isinstance(zone, str) and zone and details["when"] != Announcement.Kind.NOW:
            parts.append(f"{gettext('time zone')} {zone}")
    if details.get("status") == Announcement.Status.DRAFT:
        parts.append(str(Announcement.Status.DRAFT.label))
    return " · ".join(parts)


def _replayed(details: dict) -> str:
    """How many deliveries a replay queued again, and of which period."""
    count = details.get("count")
    if not isinstance(count, int):
        return ""
    text = ngettext("%(n)d delivery", "%(n)d deliveries", count) % {"n": count}
    try:
        start, end = (
            timezone.localtime(datetime.fromisoformat(details[name])).strftime("%Y-%m-%d %H:%M")
            for name in ("start", "end")
        )
    except (KeyError, TypeError, ValueError):
        return text  # a selection, not a period
    return gettext("%(deliveries)s, of messages received from %(start)s until %(end)s") % {
        "deliveries": text,
        "start": start,
        "end": end,
    }


def _field_names(action) -> str:
    try:
        model = apps.get_model(action.target_type)
    except (LookupError, ValueError):
        return ""
    names = []
    for name in action.summary.removeprefix("Changed ").split(" of ")[0].split(","):
        try:
            names.append(str(model._meta.get_field(name.strip()).verbose_name))
        except Exception:  # not a field name: leave it out
            continue
    # Translators: between the names of a list: 、 in Chinese.
    return pgettext("list separator", ", ").join(names)
