"""What operators and the scheduler do with announcements; views and tasks only call these.

Every function that changes state owns its transaction and enqueues its
follow-up work on commit.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from audit.services import record_action
from botadmin.partial_indexes import index_condition
from botadmin.reasons import Reason, ngettext_noop
from conversations.models import Bot, Conversation
from messaging import delivery_actions
from messaging.models import QUEUED_OR_SENDING, Message
from messaging.validation import search_text, validate_outbound

from .audience import chunked, recipients_now, replace_members
from .fanout import fail
from .models import Announcement, AnnouncementRun, SavedAudience
from .schedule import RECURRING, Schedule, ScheduleError, parse

UNFINISHED_RUNS = (AnnouncementRun.Status.FANNING_OUT, AnnouncementRun.Status.SENDING)
# A run of these statuses with nothing pending is finished (`runs_progress`): its status
# is not changed when its last message finishes (that happens in messaging).
FINISHING_RUNS = (AnnouncementRun.Status.SENDING, AnnouncementRun.Status.PAUSED)
# Restarts of a fan-out without progress before its run fails (`resume_stalled_fan_outs`):
# with the default stall of 60 s, restarted after 1, 2, 4, 8 and 16 minutes, failed at 32.
MAX_FAN_OUT_RESTARTS = 5


class NotEditableError(ValueError):
    """The announcement has no run left (finished, cancelled, or paused while sending its
    last run), or a run is handing it out (`Announcement.is_editable`)."""


NOT_EDITABLE = gettext_lazy(
    "This announcement cannot be edited now: it has no run left (it has finished, is "
    "cancelled, or was paused while sending its last run), or a run is preparing its "
    "messages at this moment."
)
# A paused announcement's paused runs hold recipients that only resuming or cancelling
# it releases: as a draft it could be neither.
PAUSED_STAYS_PAUSED = gettext_lazy(
    "A paused announcement stays paused when edited: save it, then resume or cancel it."
)


@dataclass
class Draft:
    """What the compose form collected, before validation."""

    bot: Bot
    title: str
    body: dict
    conversation_ids: list[int]  # the chosen conversations (with the audience LISTED)
    kind: str
    schedule: dict
    timezone: str
    saved_audience: SavedAudience | None = None
    audience: str = Announcement.Audience.LISTED
    audience_search: str = ""  # with a rule: only the conversations it names
    submission: str = ""  # the compose page's id: one announcement per page (when creating)


class AlreadySaved(Exception):
    """The compose page that asked to create an announcement already made one (posted
    twice): `announcement` is it, left as it was."""

    def __init__(self, announcement: Announcement):
        super().__init__(announcement.pk)
        self.announcement = announcement


def _tick() -> None:
    """Run the scheduler now (after the commit) rather than at its next beat."""
    from .tasks import tick  # the tasks import this module

    tick.delay_on_commit()


def _fan_out(run_id: int) -> None:
    """After the commit; a fan-out the broker never got is resumed by the scheduler tick."""
    from .tasks import fan_out_task

    fan_out_task.delay_on_commit(run_id)


def checked_schedule(
    kind: str, spec: dict, tz_name: str, as_draft: bool, now: datetime
) -> Schedule:
    """The schedule, or ScheduleError; one to send (not a draft) must have a run left."""
    schedule = parse(kind, spec, tz_name)
    if not as_draft and schedule.at is not None and schedule.at < now - timedelta(minutes=1):
        raise ScheduleError(_("That time has passed; choose a time in the future."))
    if not as_draft and schedule.kind in RECURRING and schedule.first_run(now) is None:
        # Only an end date can leave a recurring schedule without runs.
        raise ScheduleError(
            _("No run is left before the end date %(until)s; choose a later end date.")
            % {"until": schedule.until.isoformat() if schedule.until else ""}
        )
    return schedule


def save_announcement(
    user, draft: Draft, *, as_draft: bool, announcement: Announcement | None = None
) -> Announcement:
    """Create or edit an announcement. Raises ApiError (body) or ScheduleError (when), and
    AlreadySaved for a compose page (`draft.submission`) that has made one already."""
    body = validate_outbound(draft.bot, draft.body)
    now = timezone.now()
    schedule = checked_schedule(draft.kind, draft.schedule, draft.timezone, as_draft, now)
    submission = draft.submission if announcement is None else ""
    if submission:
        _raise_if_saved(submission)
    try:
        return _write(
            user, draft, announcement, body=body, schedule=schedule, as_draft=as_draft, now=now
        )
    except IntegrityError:
        # The same page posted twice at once: the other post made it (the unique constraint).
        if submission:
            _raise_if_saved(submission)
        raise


def saved_from(submission: str) -> Announcement | None:
    """The announcement the compose page `submission` made, if it made one."""
    if not submission:
        return None
    return Announcement.objects.filter(submission=submission).first()


def _raise_if_saved(submission: str) -> None:
    made = saved_from(submission)
    if made is not None:
        raise AlreadySaved(made)


def _write(
    user,
    draft: Draft,
    announcement: Announcement | None,
    *,
    body: dict,
    schedule: Schedule,
    as_draft: bool,
    now: datetime,
) -> Announcement:
    creating = announcement is None
    with transaction.atomic():
        if creating:
            announcement = Announcement(
                created_by=user,
                created_by_label=user.get_username()[:150],
                submission=draft.submission,
            )
        else:
            # Locked: a tick skips it meanwhile, and a run started before is seen here.
            announcement = Announcement.objects.select_for_update().get(pk=announcement.pk)
            if not announcement.is_editable:
                raise NotEditableError(NOT_EDITABLE)
            if as_draft and announcement.status == Announcement.Status.PAUSED:
                raise NotEditableError(PAUSED_STAYS_PAUSED)
        announcement.bot = draft.bot
        announcement.title = draft.title
        announcement.msgtype = body["msgtype"]
        announcement.body = body
        announcement.search_text = search_text(body)
        listed = draft.audience == Announcement.Audience.LISTED
        announcement.audience = draft.audience
        announcement.audience_search = "" if listed else draft.audience_search
        announcement.saved_audience = draft.saved_audience if listed else None
        announcement.schedule_kind = draft.kind
        announcement.schedule = draft.schedule
        announcement.timezone = draft.timezone
        if as_draft:
            announcement.status = Announcement.Status.DRAFT
            announcement.next_run_at = None
        else:
            # A paused one stays paused: its next run is the edited schedule's, once resumed.
            if announcement.status != Announcement.Status.PAUSED:
                announcement.status = Announcement.Status.ACTIVE
            announcement.next_run_at = schedule.first_run(now)  # a time: checked above
        announcement.save()
        replace_members(
            announcement.conversations,
            _bots_conversations(draft.bot, draft.conversation_ids) if listed else [],
        )
        record_action(
            user,
            "announcement.create" if creating else "announcement.edit",
            bot=draft.bot,
            target=announcement,
            summary=announcement.title,
            details={
                "status": announcement.status,
                "when": draft.kind,
                "schedule": draft.schedule,
                "audience": draft.audience,
            },
        )
        active = announcement.status == Announcement.Status.ACTIVE
        if active and announcement.next_run_at and announcement.next_run_at <= now:
            _tick()
    return announcement


class NotADraft(Exception):
    """Sending a draft was asked of an announcement that is no longer one."""


class NoRecipients(Exception):
    """None of the announcement's recipients is an active conversation now."""


def send_draft(user, announcement: Announcement) -> Announcement:
    """Send or schedule a draft as it stands, checked as the compose page's send is: its
    body, a time not passed (or a run left), and someone to send to. Raises NotADraft,
    ApiError (body), ScheduleError (when) or NoRecipients."""
    with transaction.atomic():
        announcement = Announcement.objects.select_for_update().get(pk=announcement.pk)
        if announcement.status != Announcement.Status.DRAFT:
            raise NotADraft
        validate_outbound(announcement.bot, announcement.body)
        now = timezone.now()
        schedule = checked_schedule(
            announcement.schedule_kind,
            announcement.schedule,
            announcement.timezone,
            False,
            now,
        )
        if not recipients_now(announcement).exists():
            raise NoRecipients
        announcement.status = Announcement.Status.ACTIVE
        announcement.next_run_at = schedule.first_run(now)
        announcement.save(update_fields=["status", "next_run_at", "updated_at"])
        record_action(
            user,
            "announcement.send_draft",
            bot=announcement.bot,
            target=announcement,
            details={"when": announcement.schedule_kind, "audience": announcement.audience},
        )
        if announcement.next_run_at and announcement.next_run_at <= now:
            _tick()
    return announcement


def _bots_conversations(bot: Bot, ids: list[int]) -> list[int]:
    """Those of `ids` that are the bot's conversations."""
    found = []
    for chunk in chunked(ids):
        found += (
            Conversation.objects.filter(bot=bot, pk__in=chunk)
            .order_by()
            .values_list("pk", flat=True)
        )
    return found


def estimated_duration(recipients: int, bot: Bot, waiting: int = 0) -> timedelta:
    """How long the delivery engine needs for `recipients` messages at the bot's pace.

    The pace is the bot's, shared by all workers and by everything the bot sends
    (messaging/delivery_pace.py): `waiting` messages already queued for it go first.
    """
    return timedelta(minutes=(recipients + waiting) / max(bot.rate_limit_per_minute, 1))


def run_estimate(
    recipients: int, bot: Bot, *, starts_now: bool, besides: Announcement | None = None
) -> tuple[timedelta, int]:
    """How long a run to `recipients` takes, and how many of the bot's messages it waits
    behind. Only a run starting now waits behind the messages queued now; a later run's
    backlog is not known yet, so its estimate is the pace alone."""
    waiting = messages_waiting(bot, besides=besides) if starts_now else 0
    return estimated_duration(recipients, bot, waiting), waiting


def messages_waiting(bot: Bot, besides: Announcement | None = None) -> int:
    """The bot's outbound messages queued or being sent now, other than `besides`' own.

    Two counts, each read from an index alone: the bot's queue (msg_bot_in_delivery_idx,
    whose condition the query states for SQLite) less `besides`' messages in it
    (msg_run_status_idx). Leaving them out row by row read every message of the queue,
    100,000 while a run to 100,000 conversations is sending."""
    waiting = Message.objects.filter(
        index_condition(QUEUED_OR_SENDING), bot=bot, direction=Message.Direction.OUT
    ).count()
    if besides is not None:
        waiting -= Message.objects.filter(
            announcement_run__in=besides.runs.values("pk"),
            status__in=Message.Status.IN_DELIVERY,
        ).count()
    return waiting


# --- The scheduler ------------------------------------------------------------


def start_due_announcements(now: datetime | None = None) -> list[int]:
    """Start a run for every active announcement whose next run time has come.

    An occurrence found after its time (botadmin was down) runs marked late;
    found more than BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES late it is not sent
    at all but recorded as a missed run, so the run list says so. Either way
    the next run is the first occurrence after now (missed occurrences are not
    replayed one by one).
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
    late_after = timedelta(seconds=settings.BOTADMIN_ANNOUNCEMENT_LATE_SECONDS)
    cutoff = settings.BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES
    missed = cutoff > 0 and now - occurrence > timedelta(minutes=cutoff)
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
    schedule = Schedule.from_announcement(announcement)
    announcement.next_run_at = (
        schedule.next_after(max(now, occurrence))
        if announcement.schedule_kind in RECURRING
        else None
    )
    if announcement.next_run_at is None:
        announcement.status = Announcement.Status.FINISHED
    announcement.last_run_at = now
    announcement.save(update_fields=["next_run_at", "status", "last_run_at", "updated_at"])
    if run.status != AnnouncementRun.Status.MISSED:
        _fan_out(run.pk)
    return run


def resume_stalled_fan_outs(now: datetime | None = None) -> list[int]:
    """Re-enqueue fan-outs that made no progress for a while (their worker died or failed).

    Each restart waits twice as long as the one before (BOTADMIN_ANNOUNCEMENT_STALL_SECONDS,
    then twice that, …), counted from the last progress or restart; after
    MAX_FAN_OUT_RESTARTS without progress the run fails with the last error its fan-out
    met, logged once, rather than being restarted forever.
    """
    now = now or timezone.now()
    stall = timedelta(seconds=settings.BOTADMIN_ANNOUNCEMENT_STALL_SECONDS)
    candidates = AnnouncementRun.objects.filter(
        status=AnnouncementRun.Status.FANNING_OUT, updated_at__lt=now - stall
    ).values_list("pk", "restarts", "updated_at")
    restarted = []
    for pk, restarts, updated_at in candidates:
        if updated_at >= now - stall * 2**restarts:
            continue  # backing off
        with transaction.atomic():
            if restarts >= MAX_FAN_OUT_RESTARTS:
                _give_up(pk, updated_at)
            # Compare-and-set: a batch that committed meanwhile has moved the run on.
            elif AnnouncementRun.objects.filter(
                pk=pk, status=AnnouncementRun.Status.FANNING_OUT, updated_at=updated_at
            ).update(restarts=restarts + 1, updated_at=now):
                _fan_out(pk)
                restarted.append(pk)
    return restarted


def _give_up(run_id: int, updated_at: datetime) -> None:
    """Fail the run, unless a batch moved it on since it was found stalled at `updated_at`."""
    # Intent: the announcement, then the run, as a fan-out batch locks them.
    Announcement.objects.select_for_update(of=("self",)).filter(runs=run_id).first()
    run = (
        AnnouncementRun.objects.select_for_update()
        .filter(pk=run_id, status=AnnouncementRun.Status.FANNING_OUT, updated_at=updated_at)
        .first()
    )
    if run is None:
        return
    error = run.last_error or Reason(gettext_noop("no error was recorded; see the worker's log"))
    fail(
        run,
        Reason(
            ngettext_noop(
                "no progress after %(count)s restart: %(error)s",
                "no progress after %(count)s restarts: %(error)s",
                "count",
            ),
            count=run.restarts,
            error=error,
        ),
    )


# --- Operator actions ---------------------------------------------------------


class NoLongerApplies(Exception):
    """The announcement moved on (its last run finished): the action is refused."""


def _sending() -> Q:
    """Announcements with a run being prepared or recipients not sent yet. Each subquery
    is read once, not per row (unfinished messages are few)."""
    return Q(
        pk__in=AnnouncementRun.objects.filter(status=AnnouncementRun.Status.FANNING_OUT).values(
            "announcement"
        )
    ) | Q(
        pk__in=Message.objects.filter(
            announcement_run__isnull=False, status__in=Message.Status.UNFINISHED
        ).values("announcement_run__announcement")
    )


def still_sending(announcement: Announcement) -> bool:
    """A run is being prepared, or some of its recipients are not sent yet: `_sending` for
    one announcement, a look at each of its runs' unfinished messages (msg_run_status_idx)
    instead of at every unfinished announcement message."""
    unfinished = Message.objects.filter(
        announcement_run=OuterRef("pk"), status__in=Message.Status.UNFINISHED
    )
    return announcement.runs.filter(
        Q(status=AnnouncementRun.Status.FANNING_OUT) | Exists(unfinished)
    ).exists()


def finished_but_still_sending() -> Q:
    """`still_sending` for many announcements at once, and only the finished ones: those
    whose badge says "sending" (console/announcements/_status.html). For filter() and
    annotate()."""
    return Q(status=Announcement.Status.FINISHED) & _sending()


def may_pause(announcement: Announcement, sending: bool | None = None) -> bool:
    """`sending`: `still_sending(announcement)` when the caller knows it already."""
    if announcement.status == Announcement.Status.FINISHED:
        return still_sending(announcement) if sending is None else sending
    return announcement.status == Announcement.Status.ACTIVE


def may_cancel(announcement: Announcement, sending: bool | None = None) -> bool:
    if announcement.status == Announcement.Status.FINISHED:
        return still_sending(announcement) if sending is None else sending
    return announcement.status != Announcement.Status.CANCELLED


def pause(user, announcement: Announcement) -> None:
    """No new runs, no more fan-out, pending recipients held; messages in flight finish.

    Only unfinished runs are paused: a run whose messages are all finished stays
    finished. Raises NoLongerApplies for a finished announcement with nothing left to send."""
    with transaction.atomic():
        announcement = Announcement.objects.select_for_update().get(pk=announcement.pk)
        if announcement.status not in (Announcement.Status.ACTIVE, Announcement.Status.FINISHED):
            return
        if not may_pause(announcement):
            raise NoLongerApplies
        announcement.status = Announcement.Status.PAUSED
        announcement.save(update_fields=["status", "updated_at"])
        _stop_runs(
            announcement, UNFINISHED_RUNS, AnnouncementRun.Status.PAUSED, Message.Status.SCHEDULED
        )
        record_action(user, "announcement.pause", bot=announcement.bot, target=announcement)


def _stop_runs(announcement: Announcement, statuses, stopped_as: str, message_status: str) -> int:
    """Stop what the announcement's runs of `statuses` still have to do; how many messages
    it stopped.

    Each run's unfinished messages are stopped as `message_status`
    (messaging.delivery_actions.stop): those not handed to a connector yet now, those in
    flight unless their attempt delivers them (then they are sent; a run whose messages
    all went out still reads finished, `runs_progress`). The run becomes `stopped_as`
    if it had a message to stop or has not handed out all its recipients. Any other run
    is left alone, its messages all finished (its badge says so); a paused one of those
    is no longer paused. Decided per run by what the updates changed, so a message a
    worker took meanwhile (compare-and-set on its status) counts as in flight.
    """
    now = timezone.now()
    # Only runs with something to stop: finished runs stay "sending" for good, so
    # locking them all would grow with the announcement's history. Read before the lock
    # (a batch in progress leaves its run not fanned out yet, so it is in), then locked
    # by status alone: a run whose last batch commits meanwhile must stay in.
    to_stop = list(
        AnnouncementRun.objects.filter(announcement=announcement, status__in=statuses)
        .filter(
            Q(fanned_out_at__isnull=True)
            | Q(status=AnnouncementRun.Status.PAUSED)
            | Q(
                pk__in=Message.objects.filter(
                    announcement_run__announcement=announcement,
                    status__in=Message.Status.UNFINISHED,
                ).values("announcement_run")
            )
        )
        .order_by()
        .values_list("pk", flat=True)
    )
    if not to_stop:
        return 0
    # Intent: wait for a fan-out batch in progress, so its messages are stopped too.
    runs = list(
        AnnouncementRun.objects.select_for_update()
        .filter(pk__in=to_stop, status__in=statuses)
        .only("pk", "status", "fanned_out_at")
    )
    with_pending = set(
        Message.objects.filter(
            announcement_run__in=[run.pk for run in runs],
            status__in=Message.Status.UNFINISHED,
        )
        .order_by()
        .values_list("announcement_run", flat=True)
        .distinct()
    )
    stopped = 0
    for run in runs:
        changed = in_flight = 0
        if run.pk in with_pending:
            changed, in_flight = delivery_actions.stop(
                Message.objects.filter(announcement_run=run), message_status
            )
        if changed or in_flight or run.fanned_out_at is None:
            status = stopped_as
        elif run.status == AnnouncementRun.Status.PAUSED:
            status = AnnouncementRun.Status.SENDING
        else:
            continue
        stopped += changed
        AnnouncementRun.objects.filter(pk=run.pk).update(status=status, updated_at=now)
    return stopped


def next_run_once_resumed(announcement: Announcement, now: datetime) -> datetime | None:
    """When a paused announcement runs next if resumed at `now`: a time at or before `now`
    is as soon as it is resumed; None, no run is left (its held recipients are sent)."""
    next_run = announcement.next_run_at
    if announcement.schedule_kind in RECURRING and next_run is not None and next_run < now:
        # Occurrences that fell while it was paused are skipped, not sent late on
        # resume (nor listed as missed while botadmin was down): the next one is after now.
        return Schedule.from_announcement(announcement).next_after(now)
    return next_run


def resume(user, announcement: Announcement) -> None:
    """Undo pause: held recipients become due now (quiet hours still apply), fan-out continues."""
    now = timezone.now()
    with transaction.atomic():
        announcement = Announcement.objects.select_for_update().get(pk=announcement.pk)
        if announcement.status != Announcement.Status.PAUSED:
            return
        announcement.next_run_at = next_run_once_resumed(announcement, now)
        announcement.status = (
            Announcement.Status.ACTIVE if announcement.next_run_at else Announcement.Status.FINISHED
        )
        announcement.save(update_fields=["status", "next_run_at", "updated_at"])
        runs = announcement.runs.filter(status=AnnouncementRun.Status.PAUSED)
        delivery_actions.release(Message.objects.filter(announcement_run__in=runs))
        for run in runs:
            run.status = (
                AnnouncementRun.Status.SENDING
                if run.fanned_out_at
                else AnnouncementRun.Status.FANNING_OUT
            )
            run.save(update_fields=["status", "updated_at"])
            if run.status == AnnouncementRun.Status.FANNING_OUT:
                _fan_out(run.pk)
        record_action(user, "announcement.resume", bot=announcement.bot, target=announcement)
        _tick()


def cancel(user, announcement: Announcement) -> int:
    """Stop for good: no more runs, pending recipients cancelled, sent ones stay history.

    Only unfinished runs are cancelled: a run whose messages are all finished stays
    finished. Raises NoLongerApplies for a finished announcement with nothing left to send."""
    with transaction.atomic():
        announcement = Announcement.objects.select_for_update().get(pk=announcement.pk)
        if announcement.status == Announcement.Status.CANCELLED:
            return 0
        if not may_cancel(announcement):
            raise NoLongerApplies
        announcement.status = Announcement.Status.CANCELLED
        announcement.next_run_at = None
        announcement.save(update_fields=["status", "next_run_at", "updated_at"])
        # Compare-and-set on status: a message a worker already took keeps going.
        cancelled = _stop_runs(
            announcement,
            UNFINISHED_RUNS + (AnnouncementRun.Status.PAUSED,),
            AnnouncementRun.Status.CANCELLED,
            Message.Status.CANCELLED,
        )
        record_action(
            user,
            "announcement.cancel",
            bot=announcement.bot,
            target=announcement,
            details={"cancelled_messages": cancelled},
        )
    return cancelled


def retry_failed(user, run: AnnouncementRun) -> int:
    """Queue the run's failed messages again and, if its messages could not all be made,
    make the rest: how many recipients that is.

    A failed run continues its fan-out where it stopped (paused with its announcement;
    not at all once that is cancelled), with the announcement's body as it is now."""
    with transaction.atomic():
        # Intent: the announcement, then the run, as a fan-out batch locks them; the
        # run's status is read once no batch or operator action is changing it.
        announcement = Announcement.objects.select_for_update().get(pk=run.announcement_id)
        run = AnnouncementRun.objects.select_for_update().get(pk=run.pk)
        requeued = delivery_actions.requeue(
            Message.objects.filter(announcement_run=run, status=Message.Status.FAILED)
        )
        not_made = 0
        if (
            run.status == AnnouncementRun.Status.FAILED
            and announcement.status != Announcement.Status.CANCELLED
        ):
            not_made = max(run.recipient_count - run.fanout_cursor, 0)
            paused = announcement.status == Announcement.Status.PAUSED
            run.status = (
                AnnouncementRun.Status.PAUSED if paused else AnnouncementRun.Status.FANNING_OUT
            )
            run.last_error, run.restarts = "", 0
            run.save(update_fields=["status", "last_error", "restarts", "updated_at"])
            if not paused:
                _fan_out(run.pk)
        record_action(
            user,
            "announcement.retry_failed",
            bot=announcement.bot,
            target=announcement,
            details={"run": run.pk, "messages": requeued, "not_made": not_made},
        )
    return requeued + not_made


def runs_progress(runs: list[AnnouncementRun]) -> dict[int, dict]:
    """Counts per outcome for each run's progress bar, by run id, read for them all at once.

    Pending is what the run still has to do: its unfinished messages and, unless
    it was cancelled (then they are cancelled) or failed (then they failed), the
    recipients it has not handed out yet (past `fanout_cursor`). A recipient handed out without a message (its conversation
    was deleted meanwhile) will never get one, so it is not pending but skipped.
    Sent, failed, cancelled, skipped and pending add up to the planned
    recipients; `percent` is the share that is done (all but pending), so a
    finished run is at 100 % whatever its outcomes, made of `percent_sent`,
    `percent_failed` and `percent_other`. `finished`: done, and neither cancelled
    (unless the cancel stopped none of it: its last messages were in flight and went
    out) nor missed (its badge). `waiting`: how many pending messages wait for a later
    attempt (a retry, a daily cap's hold, their pace: messaging.status_labels.waiting),
    the first of them until `waiting_until`.
    """
    counted = _counts_by_run(runs)
    progress = {}
    for run in runs:
        counts = counted[run.pk]
        planned = run.recipient_count
        not_handed_out = max(planned - run.fanout_cursor, 0)
        counts["planned"] = planned
        counts["pending"] = counts["unfinished"]
        if run.status == AnnouncementRun.Status.CANCELLED:
            # Cancelling stops the hand-out; a message already being sent stays pending.
            counts["cancelled"] += not_handed_out
        elif run.status == AnnouncementRun.Status.FAILED:
            # Their messages could not be made (the run says why); retrying makes them.
            counts["failed"] += not_handed_out
        else:
            counts["pending"] += not_handed_out
        counts["skipped"] = max(planned - counts["total"] - not_handed_out, 0)
        del counts["unfinished"], counts["total"]
        counts["done"] = counts["pending"] == 0
        # Its badge: done and not stopped (nor missed) is finished, whatever its status
        # says (it stays "sending" after its last message: computed, never stored).
        counts["finished"] = counts["done"] and (
            run.status in FINISHING_RUNS
            or (run.status == AnnouncementRun.Status.CANCELLED and not counts["cancelled"])
        )
        counts.update(_bar_parts(counts))
        progress[run.pk] = counts
    return progress


# Which count of `runs_progress` a message's status adds to.
COUNTED_AS = {
    Message.Status.SENT: "sent",
    **dict.fromkeys(Message.Status.UNDELIVERED, "failed"),
    Message.Status.CANCELLED: "cancelled",
    **dict.fromkeys(Message.Status.UNFINISHED, "unfinished"),
}


def _counts_by_run(runs: list[AnnouncementRun]) -> dict[int, dict]:
    """{run id: its messages counted by outcome}, for all `runs` in two queries that read
    msg_run_status_idx (run, status, next attempt) alone, never a row of the message
    table: the counts grouped by run and status (some 20 rows for a page of runs), and
    the queued ones waiting until a later time, a range of the index. (The waiting ones
    counted in the grouped query cost a comparison on every message: twice as long.)"""
    now = timezone.now()
    counted = {
        run.pk: {
            "sent": 0,
            "failed": 0,
            "cancelled": 0,
            "unfinished": 0,
            "waiting": 0,
            "waiting_until": None,
            "total": 0,
        }
        for run in runs
    }
    messages = Message.objects.filter(announcement_run__in=list(counted)).order_by()
    for group in messages.values("announcement_run", "status").annotate(n=Count("*")):
        counts = counted[group["announcement_run"]]
        counts["total"] += group["n"]
        if outcome := COUNTED_AS.get(group["status"]):
            counts[outcome] += group["n"]
    waiting = (
        messages.filter(status=Message.Status.QUEUED, next_attempt_at__gt=now)
        .values("announcement_run")
        .annotate(n=Count("*"), until=Min("next_attempt_at"))
    )
    for group in waiting:
        counts = counted[group["announcement_run"]]
        counts["waiting"], counts["waiting_until"] = group["n"], group["until"]
    return counted


def _bar_parts(counts: dict) -> dict:
    """The progress bar's parts in whole percents of the planned recipients: sent,
    failed, then cancelled and skipped; together they are the done share."""
    planned = counts["planned"]
    if not planned:
        return {"percent": 100, "percent_sent": 0, "percent_failed": 0, "percent_other": 100}

    def upto(n):  # rounded down from the bar's start, so the parts add up exactly
        return 100 * n // planned

    sent, failed = counts["sent"], counts["failed"]
    done = upto(planned - counts["pending"])
    return {
        "percent": done,
        "percent_sent": upto(sent),
        "percent_failed": upto(sent + failed) - upto(sent),
        "percent_other": done - upto(sent + failed),
    }


def save_audience(user, bot: Bot, name: str, conversation_ids: list[int]) -> SavedAudience:
    """Create or replace the bot's saved audience called `name`."""
    with transaction.atomic():
        audience, created = SavedAudience.objects.get_or_create(
            bot=bot, name=name, defaults={"created_by": user}
        )
        replace_members(audience.conversations, _bots_conversations(bot, conversation_ids))
        record_action(
            user,
            "audience.create" if created else "audience.edit",
            bot=bot,
            target=audience,
            summary=name,
            details={"conversations": len(conversation_ids)},
        )
    return audience
