"""The scheduler: starts each announcement's runs when they are due (run by one beat
entry, `tasks.tick`), and says when a paused announcement runs next."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin.reasons import Reason

from .audience import recipients_now
from .fanout import fan_out_on_commit
from .models import Announcement, AnnouncementRun
from .schedule import RECURRING, Schedule

# Missed occurrences of one outage listed one by one, each its own missed run: a daily
# announcement down for three days shows three. Past this many (a cron every minute
# down for a day), the last one listed says before when the later ones were missed too.
MAX_MISSED_LISTED = 200
MISSED_MORE = gettext_noop(
    "the later occurrences before %(until)s (%(zone)s) were missed too, not listed one by one"
)


def tick_on_commit() -> None:
    """Run the scheduler now (after the commit) rather than at its next beat."""
    from .tasks import tick  # the tasks import this module

    tick.delay_on_commit()


def start_due_announcements(now: datetime | None = None) -> list[int]:
    """Start a run for every active announcement whose next run time has come.

    An occurrence found after its time (botadmin was down) runs marked late;
    found more than BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES late it is not sent
    at all but recorded as a missed run, so the run list says so, and a recurring
    one's first occurrence within the cut-off, if one came meanwhile, runs once,
    late. Every occurrence missed so is listed, each its own missed run with its time
    (up to MAX_MISSED_LISTED of one outage), so the run list shows which ones did not go;
    none of them is sent. Either way the next run is the first occurrence after now.
    """
    now = now or timezone.now()
    started = []
    with transaction.atomic():
        # Intent: two ticks never start the same occurrence (the unique
        # constraint on (announcement, scheduled_for) backs this up).
        due = list(
            Announcement.objects.select_for_update(skip_locked=True)
            .filter(status=Announcement.Status.ACTIVE, next_run_at__lte=now)
            .order_by("next_run_at")[:100]
        )
        for announcement in due:
            started.append(_start_run(announcement, now).pk)
    return started


def _start_run(announcement: Announcement, now: datetime) -> AnnouncementRun:
    occurrence = announcement.next_run_at
    schedule = Schedule.from_announcement(announcement)
    recurring = announcement.schedule_kind in RECURRING
    cutoff = timedelta(minutes=settings.BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES)
    if cutoff and now - occurrence > cutoff:
        run = _missed_runs(announcement, schedule, occurrence, now - cutoff, now)
        # botadmin came back within the cut-off of a later occurrence (down from
        # Monday until Wednesday 18:10, a daily run at 18:00): that one still runs,
        # once, as it would have had the missed ones been found one by one.
        catch_up = schedule.next_after(now - cutoff - timedelta(microseconds=1))
        if recurring and catch_up is not None and catch_up <= now:
            run = _run(announcement, catch_up, now, missed=False)
    else:
        run = _run(announcement, occurrence, now, missed=False)
    announcement.next_run_at = schedule.next_after(max(now, occurrence)) if recurring else None
    if announcement.next_run_at is None:
        announcement.status = Announcement.Status.FINISHED
    announcement.last_run_at = now
    announcement.save(update_fields=["next_run_at", "status", "last_run_at", "updated_at"])
    return run


def _missed_runs(
    announcement: Announcement,
    schedule: Schedule,
    first: datetime,
    last_missed: datetime,
    now: datetime,
) -> AnnouncementRun:
    """A missed run for each occurrence from `first` until `last_missed` (a one-off has
    one); the last of them."""
    occurrences = [first]
    if announcement.schedule_kind in RECURRING:
        while len(occurrences) < MAX_MISSED_LISTED + 1:
            following = schedule.next_after(occurrences[-1])
            if following is None or following >= last_missed:
                break
            occurrences.append(following)
    more = len(occurrences) > MAX_MISSED_LISTED
    occurrences = occurrences[:MAX_MISSED_LISTED]
    for occurrence in occurrences:
        run = _run(announcement, occurrence, now, missed=True)
    if more:
        local = timezone.localtime(last_missed, announcement.zone)
        run.last_error = Reason(
            MISSED_MORE, until=f"{local:%Y-%m-%d %H:%M}", zone=str(announcement.zone)
        )
        run.save(update_fields=["last_error", "updated_at"])
    return run


def _run(
    announcement: Announcement, occurrence: datetime, now: datetime, missed: bool
) -> AnnouncementRun:
    """The run of `occurrence`, its fan-out enqueued; a missed one is only recorded."""
    late_after = timedelta(seconds=settings.BOTADMIN_ANNOUNCEMENT_LATE_SECONDS)
    # Fixed here for the run: a rule takes the conversations it names at this moment.
    recipients = (
        []
        if missed
        else list(recipients_now(announcement).order_by("pk").values_list("pk", flat=True))
    )
    run, _created = AnnouncementRun.objects.get_or_create(
        announcement=announcement,
        scheduled_for=occurrence,
        defaults={
            "started_at": now,
            "is_late": now - occurrence > late_after,
            "recipient_ids": recipients,
            "recipient_total": len(recipients),
            **({"status": AnnouncementRun.Status.MISSED} if missed else {}),
        },
    )
    if run.status != AnnouncementRun.Status.MISSED:
        fan_out_on_commit(run.pk)
    return run


def next_run_once_resumed(announcement: Announcement, now: datetime) -> datetime | None:
    """When a paused announcement runs next if resumed at `now`: a time at or before `now`
    is as soon as it is resumed; None, no run is left (its held recipients are sent)."""
    next_run = announcement.next_run_at
    if next_run is None or next_run >= now:
        return next_run
    if announcement.schedule_kind in RECURRING:
        # Occurrences that fell while it was paused are skipped, not sent late on
        # resume (nor listed as missed while botadmin was down): the next one is after now.
        return Schedule.from_announcement(announcement).next_after(now)
    # A one-off whose time passed while it was paused runs now, as its page says: at
    # its old time it would read late, or missed "while botadmin was down".
    return now
