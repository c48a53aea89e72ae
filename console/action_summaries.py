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
from connectors.base import media_word
from connectors.registry import CONNECTORS
from conversations.bot_secrets import secret_label
from conversations.models import Conversation
from forwarding.replay import test_event_outcome
from messaging.models import Message


def summary(action) -> str:
    """What the entry did beyond its operation's words, in the operator's language: the
    operator's own words (a title), the settings changed, a test's outcome, the secret
    revealed, a deleted endpoint's URL, the operator added or removed, a rotation's
    grace, how many messages, … Read from the entry's details (its code is the key, the
    details its parameters), or, for an entry recorded before they held them, from the
    stored English summary's known patterns; an entry of a code said nowhere here shows
    its stored summary as it is."""
    say = SAYINGS.get(action.action)
    if say is None:
        return action.summary
    details = action.details if isinstance(action.details, dict) else {}
    return say(action, details)


def _joined(*parts) -> str:
    return " · ".join(str(part) for part in parts if part)


def _translated(reason: str) -> str:
    """A stored reason in the reader's language; one stored as its English text (before
    reasons were kept as msgids) translated when it is one without parameters."""
    if isinstance(reason, reasons.Reason):
        return reason.translated()
    return gettext(reason) if reason else ""  # gettext("") is the catalogue's header


def _fields(action, details: dict) -> str:
    return _field_names(action) if action.target_type else ""


def _connection_checked(action, details: dict) -> str:
    """Success or Failure, the words of a test event's outcome it stands beside, and why."""
    if "ok" not in details:
        ok = action.summary.startswith("OK: ")
        if not ok and not action.summary.startswith("Failed: "):
            return ""
    elif details["ok"] is None:  # still connecting: no verdict, and what to do
        return _joined(
            gettext("Still connecting"), _translated(reasons.from_json(details.get("reason")))
        )
    else:
        ok = bool(details["ok"])
    outcome = gettext("Success") if ok else gettext("Failure")
    if "reason" in details:
        reason = reasons.from_json(details["reason"])
    else:  # recorded before the reason was kept: the summary's (English) words
        reason = action.summary.removeprefix("OK: " if ok else "Failed: ")
    # A passed test's reason is the connector's "it works": the outcome says it.
    return _joined(outcome, "" if ok else _translated(reason))


def _revealed(action, details: dict) -> str:
    if "secret" not in details:
        return ""
    return _joined(secret_label(str(details["secret"])), _via(details))  # never its value


# conversations.bot_changes.created_summary's wording, then the one before it
# ("Created the WeCom AI bot bot …"), which said "bot" twice.
_CREATED_BOT = (
    re.compile(r"^Created the bot .* \((?P<label>[^()]+)\)(?P<cli> from the command line)?\.$"),
    re.compile(r"^Created the (?P<label>.+) bot .*?(?P<cli> from the command line)?\.$"),
)


def _bot_created(action, details: dict) -> str:
    """The new bot's connector (the target names the bot), and where it was made."""
    kind = details.get("connector")
    if kind in CONNECTORS:
        return _joined(CONNECTORS[kind].label, _via(details))
    found = next(filter(None, (p.match(action.summary or "") for p in _CREATED_BOT)), None)
    if not found:
        return ""
    labels = {cls.english_label(): cls.label for cls in CONNECTORS.values()}
    via = VIA["command line"] if found.group("cli") else ""
    return _joined(labels.get(found.group("label"), found.group("label")), via)


def _contacts_synced(action, details: dict) -> str:
    if details.get("via") == "command line" or action.summary.endswith("from the command line."):
        return str(VIA["command line"])
    joined = details.get("joined")
    if joined is None:
        joined = action.summary.startswith("Joined")
    return gettext("joined the sync already running") if joined else ""


_RESUMED = re.compile(r"^Resumed sending \(paused because: (?P<reason>.*)\)\.$", re.DOTALL)


def _resumed(action, details: dict) -> str:
    """Why the bot had been paused."""
    if "reason" in details:
        reason = _translated(reasons.from_json(details["reason"]))
    elif found := _RESUMED.match(action.summary or ""):
        reason = _translated(found.group("reason"))
    else:
        reason = ""
    return gettext("paused because: %(reason)s") % {"reason": reason} if reason else ""


def _group_chat_created(action, details: dict) -> str:
    members = details.get("members")
    if not isinstance(members, list):
        return ""
    return ngettext("%(n)d member", "%(n)d members", len(members)) % {"n": len(members)}


_ADDED_CONVERSATION = re.compile(r"^Added the (?P<kind>user|group) ")


def _conversation_added(action, details: dict) -> str:
    kind = details.get("kind")
    if kind is None and (found := _ADDED_CONVERSATION.match(action.summary or "")):
        kind = found.group("kind")
    return str(Conversation.Kind(kind).label) if kind in Conversation.Kind.values else ""


def _previous_status(action, details: dict) -> str:
    """A message retried or cancelled: what it was before."""
    status = details.get("previous_status")
    if status not in Message.Status.values:
        return ""
    return gettext("status before: %(status)s") % {"status": Message.Status(status).label}


_FETCHED = re.compile(r"^Fetched the (?P<kind>\w+) of message ")


def _fetched_again(action, details: dict) -> str:
    kind = details.get("kind")
    if kind is None and (found := _FETCHED.match(action.summary or "")):
        kind = found.group("kind")
    return reasons.translate(media_word(kind)) if isinstance(kind, str) else ""


def _replayed_one(action, details: dict) -> str:
    """The delivery's webhook id and the endpoint it went to again."""
    url = details.get("url")
    if url is None:
        url = (action.summary or "").partition(" to ")[2]
    return _joined(details.get("webhook_id", ""), url)


def _endpoint_created(action, details: dict) -> str:
    return str(details.get("url") or (action.summary or "").removeprefix("Added "))


def _announcement_cancelled(action, details: dict) -> str:
    count = details.get("cancelled_messages")
    if not isinstance(count, int):
        return ""
    return ngettext("%(n)d message cancelled", "%(n)d messages cancelled", count) % {"n": count}


def _announcement_retried(action, details: dict) -> str:
    parts = []
    if isinstance(requeued := details.get("messages"), int) and requeued:
        parts.append(
            ngettext("%(n)d message queued again", "%(n)d messages queued again", requeued)
            % {"n": requeued}
        )
    if isinstance(made := details.get("not_made"), int) and made:
        parts.append(ngettext("%(n)d message made", "%(n)d messages made", made) % {"n": made})
    return _joined(*parts)


def _nothing_more(action, details: dict) -> str:
    """The operation's words say all of it (the stored summary repeats them in English)."""
    return ""


# A rotation's entry says how long the old secret kept working: "none" is the one that
# made callers still using it fail at once. (The API secret's entries hold it in their
# summary alone, "Rotated the API secret (grace 24 h) in the console.")
ROTATIONS = {"secret.rotate", "endpoint.rotate_signing_secret", "signing_secret.rotate"}
_GRACE_IN_SUMMARY = re.compile(r"\(grace ([0-9.]+) h\)")


_VIA_IN_SUMMARY = re.compile(r" (?:in|from) the (console|admin|command line)\.$")


def _grace(action, details: dict) -> str:
    hours = details.get("grace_hours")
    if not isinstance(hours, (int, float)):
        found = _GRACE_IN_SUMMARY.search(action.summary or "")
        if not found:
            return ""
        hours = float(found.group(1))
    if "via" not in details and (via := _VIA_IN_SUMMARY.search(action.summary or "")):
        details = {"via": via.group(1)}
    if hours <= 0:
        grace = gettext("the old secret stopped working at once")
    else:
        grace = gettext("the old secret kept working for %(hours)s h") % {"hours": f"{hours:g}"}
    return _joined(grace, _via(details))


EXPORTS = {"messages.export", "audit.export"}
# Where an action was done, when its details say ("via").
VIA = {
    "console": gettext_lazy("via the console"),
    "admin": gettext_lazy("via the admin"),
    "command line": gettext_lazy("via the command line"),
}


def _via(details: dict) -> str:
    return str(VIA[details["via"]]) if details.get("via") in VIA else ""


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
    return _joined(*parts, _via(details))


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


# Each operation's saying, by its code: (entry, its details) → words.
SAYINGS = {
    **dict.fromkeys(audit_actions.SUMMARY_IS_CONTENT, lambda action, details: action.summary),
    **dict.fromkeys(
        audit_actions.ABOUT_AN_ANNOUNCEMENT_SAVED | {"announcement.send_draft"},
        lambda action, details: _announcement_saved(details),
    ),
    **dict.fromkeys(audit_actions.SUMMARY_IS_FIELDS, _fields),
    **dict.fromkeys(
        audit_actions.ABOUT_AN_OPERATOR, lambda action, details: str(details.get("username", ""))
    ),
    **dict.fromkeys(EXPORTS, lambda action, details: _exported(details)),
    **dict.fromkeys(ROTATIONS, _grace),
    "bot.check_connection": _connection_checked,
    "secret.reveal": _revealed,
    "bot.create": _bot_created,
    "contacts.sync": _contacts_synced,
    "bot.pause_sending": lambda action, details: _paused(details),
    "bot.resume_sending": _resumed,
    "group_chat.create": _group_chat_created,
    "conversation.add": _conversation_added,
    "message.retry": _previous_status,
    "message.cancel": _previous_status,
    "media.fetch_again": _fetched_again,
    "delivery.replay": _replayed_one,
    "delivery.replay_many": lambda action, details: _replayed(details),
    "endpoint.recover_missed": lambda action, details: _replayed(details),
    "endpoint.create": _endpoint_created,
    "endpoint.test": lambda action, details: test_event_outcome(action),
    # The row is gone: its URL says which it was.
    "endpoint.delete": lambda action, details: str(details.get("url", "")),
    "announcement.cancel": _announcement_cancelled,
    "announcement.retry_failed": _announcement_retried,
    **dict.fromkeys(
        (
            "announcement.pause",
            "announcement.resume",
            "bot.reconnect",  # "long connection"
            "message.mark_sent",
            "endpoint.reenable",
            "bot.delete_request",
            "bot.delete",
            "conversation.delete_request",
            "conversation.delete",
            "deletion.retry",
            "user.create",
            "user.delete",
            "group.create",
            "group.delete",
        ),
        _nothing_more,
    ),
}
