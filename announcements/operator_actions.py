"""What operators do with an announcement that is running: pause, resume, cancel, retry
its failed messages, and whether it may be paused or cancelled now.

Each action owns its transaction, locking the announcement, then its runs (the order a
fan-out batch locks them in), and enqueues its follow-up work on commit.
"""

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audit.services import record_action
from messaging import delivery_actions
from messaging.models import Message

from .fanout import fan_out_on_commit
from .models import Announcement, AnnouncementRun
from .scheduler import next_run_once_resumed, tick_on_commit

UNFINISHED_RUNS = (AnnouncementRun.Status.FANNING_OUT, AnnouncementRun.Status.SENDING)


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
                fan_out_on_commit(run.pk)
        record_action(user, "announcement.resume", bot=announcement.bot, target=announcement)
        tick_on_commit()


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
                fan_out_on_commit(run.pk)
        record_action(
            user,
            "announcement.retry_failed",
            bot=announcement.bot,
            target=announcement,
            details={"run": run.pk, "messages": requeued, "not_made": not_made},
        )
    return requeued + not_made
