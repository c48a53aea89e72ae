"""What the console asks before an announcement goes out: the compose page's "Send now" and
"Schedule", and a draft's "Send…", name how many conversations get it and when (a
recurring one's schedule too), in the announcement's time zone.

The compose page asks in the browser, with the words the server gives it, and posts the
question answered; the server stores the announcement only when that is the question it
would ask now, and otherwise asks on the page itself (no JavaScript, or the recipients or
the first run changed meanwhile). So what the operator agreed to is what is stored.
"""

from datetime import datetime, tzinfo

from django.utils import dateformat
from django.utils.translation import ngettext

from announcements.models import Announcement
from announcements.schedule import RECURRING, ScheduleError, in_words, parse


def run_time_label(when: datetime, tz: tzinfo) -> str:
    """A run time as read in the announcement's zone, weekday in the operator's language.

    In an hour a fall-back change repeats, the UTC offset tells its two passes apart
    (Django's "O" and "T" say nothing for such a time).
    """
    local = when.astimezone(tz)
    label = dateformat.format(local, "Y-m-d D H:i")
    if local.utcoffset() != local.replace(fold=1 - local.fold).utcoffset():
        label += " UTC" + local.isoformat(timespec="minutes")[-6:]
    return label


def send_question(recipients: int, kind: str, spec: dict, tz_name: str, now: datetime) -> str:
    """The question asked before sending or scheduling to `recipients` conversations on
    the schedule `kind` / `spec` in the zone `tz_name`."""
    values = {"n": recipients, "zone": tz_name, "when": "—"}
    if kind == Announcement.Kind.NOW:
        return (
            ngettext(
                "Send to %(n)d conversation now?", "Send to %(n)d conversations now?", recipients
            )
            % values
        )
    try:
        schedule = parse(kind, spec, tz_name)
    except ScheduleError:
        pass
    else:
        first = schedule.first_run(now)
        if first is not None:
            values["when"] = run_time_label(first, schedule.tz)
    if kind not in RECURRING:
        return (
            ngettext(
                "Schedule for %(n)d conversation, sent %(when)s (%(zone)s)?",
                "Schedule for %(n)d conversations, sent %(when)s (%(zone)s)?",
                recipients,
            )
            % values
        )
    values["schedule"] = in_words(Announcement(schedule_kind=kind, schedule=spec))
    return (
        ngettext(
            "Schedule for %(n)d conversation: %(schedule)s (%(zone)s), first run %(when)s?",
            "Schedule for %(n)d conversations: %(schedule)s (%(zone)s), first run %(when)s?",
            recipients,
        )
        % values
    )
