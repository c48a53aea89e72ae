"""When an announcement runs: one-off, recurring rules and cron, in the announcement's time zone.

Every recurring kind is turned into a cron expression and evaluated by
croniter on *local wall-clock time* (naive datetimes in the announcement's
zone), then localised with zoneinfo. So "weekdays at 18:00" in Europe/Berlin
is 18:00 Berlin time on both sides of a DST change, and 17:00 UTC or 16:00
UTC accordingly.

In the hour a fall-back change repeats, a schedule that runs at most once an
hour runs once, the first time (daily at 01:30 is not sent twice); one that
runs more often (*/15) runs in both passes, so it keeps its pace in elapsed
time as an operator expects of "every 15 minutes".

A monthly schedule runs on a numbered day (`month_day` 1-31), which months
without that day skip (`Schedule.skipped_months` names them), or on the last
day of every month (`month_day` "last", cron's L).
"""

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from botadmin.timezones import known_zone

from .models import Announcement

Kind = Announcement.Kind
RECURRING = {Kind.DAILY, Kind.WEEKDAYS, Kind.WEEKLY, Kind.MONTHLY, Kind.CRON}
WEEKDAY_NUMBERS = range(7)  # 0 = Monday … 6 = Sunday, like date.weekday()
LAST_DAY = "last"  # month_day of a monthly schedule on the last day of every month
WEEKDAY_NAMES = [
    gettext_lazy("Mon"),
    gettext_lazy("Tue"),
    gettext_lazy("Wed"),
    gettext_lazy("Thu"),
    gettext_lazy("Fri"),
    gettext_lazy("Sat"),
    gettext_lazy("Sun"),
]


class ScheduleError(ValueError):
    """The schedule cannot be understood; the message says why (translated)."""


@dataclass(frozen=True)
class Schedule:
    kind: str
    tz: ZoneInfo
    at: datetime | None = None  # ONCE: aware
    cron: str = ""  # recurring kinds
    until: date | None = None  # last local day a recurring run may happen
    month_day: int | None = None  # MONTHLY on a numbered day

    @classmethod
    def from_announcement(cls, announcement: Announcement) -> "Schedule":
        return parse(announcement.schedule_kind, announcement.schedule, announcement.timezone)

    def next_after(self, after: datetime) -> datetime | None:
        """The first run time strictly after `after` (aware), or None when the schedule is over."""
        if self.kind == Kind.NOW:
            return None
        if self.kind == Kind.ONCE:
            return self.at if self.at > after else None
        # Instants in UTC: aware times of one zone compare by wall clock, fold ignored.
        after = after.astimezone(UTC)
        both_passes = self.runs_more_than_hourly
        start = after.astimezone(self.tz).replace(tzinfo=None, fold=0)
        if both_passes:
            # In a repeated hour the clock will read the wall times before `after` again.
            start -= _repeated_by(start, self.tz)
        earliest = None
        for wall in croniter(self.cron, start).all_next(datetime):
            if self.until and wall.date() > self.until:
                break
            runs = [_localise(wall, self.tz)]
            repeated = both_passes and _repeated_by(wall, self.tz)
            if repeated:
                runs.append(wall.replace(tzinfo=self.tz, fold=1))
            for run in (r.astimezone(UTC) for r in runs):
                if run > after and (earliest is None or run < earliest):
                    earliest = run
            # The second pass of a repeated hour comes before the wall times after it.
            if earliest is not None and not repeated:
                break
        return None if earliest is None else earliest.astimezone(self.tz)

    @property
    def runs_more_than_hourly(self) -> bool:
        """The cron's minute field matches more than one minute (*/15, 0,30, *)."""
        minutes = croniter(self.cron).expanded[0]
        return minutes == ["*"] or len(minutes) > 1

    def first_run(self, now: datetime) -> datetime | None:
        if self.kind == Kind.NOW:
            return now
        if self.kind == Kind.ONCE:
            return self.at
        return self.next_after(now)

    def skipped_months(self, now: datetime, months: int = 12) -> list[date]:
        """The months (as their first day) that have no day `month_day`, so no run, among
        the `months` from the one `now` is in, up to the end date."""
        if self.month_day is None:
            return []
        skipped = []
        first = now.astimezone(self.tz).date().replace(day=1)
        for n in range(months):
            year, month = divmod(first.month - 1 + n, 12)
            year += first.year
            length = calendar.monthrange(year, month + 1)[1]
            if self.until and date(year, month + 1, length) >= self.until:
                break  # the day would come after the end date anyway
            if length < self.month_day:
                skipped.append(date(year, month + 1, 1))
        return skipped

    def preview(self, now: datetime, count: int = 5) -> list[datetime]:
        times: list[datetime] = []
        current = self.first_run(now)
        while current is not None and len(times) < count:
            times.append(current)
            if self.kind not in RECURRING:
                break
            current = self.next_after(current)
        return times


def _localise(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach `tz`; a wall time skipped by a DST change moves forward by the gap (as RFC 5545
    reads it), one repeated by a change is its first pass (fold=0)."""
    aware = naive.replace(tzinfo=tz, fold=0)
    shifted = aware.astimezone(UTC).astimezone(tz)
    # Inside the gap, fold=0 reads the wall time with the offset from before the change
    # (PEP 495), so the round trip lands the gap's length later: an hour in Berlin, 30
    # minutes on Lord Howe Island.
    return shifted if shifted.replace(tzinfo=None) != naive else aware


def _repeated_by(naive: datetime, tz: ZoneInfo) -> timedelta:
    """How far the clock is turned back over the wall time `naive` (zero unless repeated)."""
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    return max(first.utcoffset() - second.utcoffset(), timedelta(0))


def zone(name: str) -> ZoneInfo:
    tz = known_zone(name)
    if tz is None:
        raise ScheduleError(_("Unknown time zone: %(tz)s") % {"tz": name})
    return tz


def _time(value) -> time:
    try:
        return value if isinstance(value, time) else time.fromisoformat(str(value))
    except ValueError as exc:
        raise ScheduleError(_("Enter a time like 18:00.")) from exc


def parse(kind: str, spec: dict, tz_name: str) -> Schedule:
    """Build a Schedule from the stored spec; raises ScheduleError with a readable message."""
    tz = zone(tz_name)
    until = spec.get("until") or None
    if until and not isinstance(until, date):
        try:
            until = date.fromisoformat(str(until))
        except ValueError as exc:
            raise ScheduleError(_("Enter the end date as YYYY-MM-DD.")) from exc
    if kind == Kind.NOW:
        return Schedule(kind, tz)
    if kind == Kind.ONCE:
        try:
            at = datetime.fromisoformat(str(spec.get("at")))
        except ValueError as exc:
            raise ScheduleError(_("Enter the date and time to send.")) from exc
        try:
            at = _localise(at, tz) if at.tzinfo is None else at
            at.astimezone(UTC)
        except OverflowError as exc:  # 0001-01-01 east of UTC, 9999-12-31 west of it
            raise ScheduleError(_("Enter the date and time to send.")) from exc
        return Schedule(kind, tz, at=at)
    if kind == Kind.CRON:
        expression = str(spec.get("cron", "")).strip()
        if len(expression.split()) != 5 or not croniter.is_valid(expression):
            raise ScheduleError(_("Enter a cron expression with five fields, e.g. 0 9 * * 1-5."))
        try:
            croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
        except CroniterBadDateError as exc:  # a date that never comes, e.g. 0 9 31 2 *
            raise ScheduleError(
                _("This cron expression never fires: no date matches it (like 31 February).")
            ) from exc
        return Schedule(kind, tz, cron=expression, until=until)
    at = _time(spec.get("time"))
    days = "*"
    month_day = None
    weekdays = "*"
    if kind == Kind.WEEKDAYS:
        weekdays = "1-5"
    elif kind == Kind.WEEKLY:
        chosen = sorted({int(d) for d in spec.get("weekdays") or [] if int(d) in WEEKDAY_NUMBERS})
        if not chosen:
            raise ScheduleError(_("Choose at least one day of the week."))
        # cron counts Sunday as 0; date.weekday() counts Monday as 0.
        weekdays = ",".join(str((d + 1) % 7) for d in chosen)
    elif kind == Kind.MONTHLY:
        if spec.get("month_day") == LAST_DAY:
            days = "L"
        else:
            try:
                month_day = int(spec.get("month_day"))
            except (TypeError, ValueError):
                month_day = 0
            if not 1 <= month_day <= 31:
                raise ScheduleError(
                    _("Choose a day of the month between 1 and 31, or the last day.")
                )
            days = str(month_day)
    elif kind != Kind.DAILY:
        raise ScheduleError(_("Unknown schedule kind: %(kind)s") % {"kind": kind})
    cron = f"{at.minute} {at.hour} {days} * {weekdays}"
    try:
        croniter(cron)
    except CroniterBadCronError as exc:  # pragma: no cover - built from checked parts
        raise ScheduleError(str(exc)) from exc
    return Schedule(kind, tz, cron=cron, until=until, month_day=month_day)


def in_words(announcement: Announcement) -> str:
    """When an announcement runs, as operators read it ("Monthly on the last day at 09:30",
    "2026-12-06 05:19 (once)" in its zone); the kind's name for "now", and for a schedule
    it cannot read."""
    kind, spec = announcement.schedule_kind, announcement.schedule or {}
    try:
        at = _time(spec.get("time")).strftime("%H:%M") if kind in RECURRING - {Kind.CRON} else ""
        if kind == Kind.DAILY:
            words = _("Every day at %(time)s") % {"time": at}
        elif kind == Kind.WEEKDAYS:
            words = _("Every weekday (Mon–Fri) at %(time)s") % {"time": at}
        elif kind == Kind.WEEKLY:
            days = pgettext("list separator", ", ").join(
                str(WEEKDAY_NAMES[d]) for d in sorted({int(d) for d in spec["weekdays"]})
            )
            words = _("Weekly on %(days)s at %(time)s") % {"days": days, "time": at}
        elif kind == Kind.MONTHLY and spec.get("month_day") == LAST_DAY:
            words = _("Monthly on the last day at %(time)s") % {"time": at}
        elif kind == Kind.MONTHLY:
            day = int(spec["month_day"])
            words = _("Monthly on day %(day)d at %(time)s") % {"day": day, "time": at}
        elif kind == Kind.CRON:
            words = _("Cron expression %(cron)s") % {"cron": spec["cron"]}
        elif kind == Kind.ONCE:
            when = datetime.fromisoformat(spec["at"]).strftime("%Y-%m-%d %H:%M")
            return _("%(when)s (once)") % {"when": when}
        else:
            return announcement.get_schedule_kind_display()
    except (ScheduleError, KeyError, TypeError, ValueError, IndexError):
        return announcement.get_schedule_kind_display()
    if spec.get("until"):
        words = _("%(schedule)s, until %(date)s") % {"schedule": words, "date": spec["until"]}
    return words
