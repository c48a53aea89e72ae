"""A run's progress: its recipients counted by outcome, for its progress bar."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.db.models.functions import Coalesce
from django.utils import timezone

from conversations.models import Bot
from messaging.models import Message

from .models import AnnouncementRun

# A run of these statuses with nothing pending is finished (`runs_progress`): its status
# is not changed when its last message finishes (that happens in messaging).
FINISHING_RUNS = (AnnouncementRun.Status.SENDING, AnnouncementRun.Status.PAUSED)


def runs_progress(runs: list[AnnouncementRun], bot: Bot | None = None) -> dict[int, dict]:
    """Counts per outcome for each run's progress bar, by run id, read for them all at once.

    Pending is what the run still has to do: its unfinished messages and, unless
    it was cancelled (then they are cancelled) or failed (then they failed), the
    recipients it has not handed out yet (past `fanout_cursor`). A recipient handed out without a message (its conversation
    was deleted, or was being deleted, meanwhile: `fanout`) will never get one, so it is
    not pending but skipped.
    Sent, failed, cancelled, skipped and pending add up to the planned
    recipients; `percent` is the share that is done (all but pending), so a
    finished run is at 100 % whatever its outcomes, made of `percent_sent`,
    `percent_failed` and `percent_other`. `finished`: done, and neither cancelled
    (unless the cancel stopped none of it: its last messages were in flight and went
    out) nor missed (its badge). `waiting`: how many pending messages wait for a later
    attempt (a retry, a daily cap's hold, their pace: messaging.status_labels.waiting),
    the first of them until `waiting_until`. `held_until`: with the runs' `bot` given and
    its sending paused or the bot switched off, when the first of the run's queued
    messages fails as expired unless the bot sends again before.
    """
    counted = _counts_by_run(runs)
    expiries = held_until(runs, bot) if bot is not None else {}
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
        counts["held_until"] = expiries.get(run.pk)
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


def held_until(runs: list[AnnouncementRun], bot: Bot) -> dict[int, object]:
    """{run id: when its first queued message fails as expired}, for the runs of a bot
    that sends nothing now (paused or switched off): messaging's sweeper fails a message
    still queued DELIVERY_MAX_QUEUE_AGE_HOURS after it was due
    (messaging.sweeper.expire_stale_queues); empty while the bot sends. One query."""
    if bot.paused_at is None and bot.is_active:
        return {}
    age = timedelta(hours=settings.DELIVERY_MAX_QUEUE_AGE_HOURS)
    first_due = (
        Message.objects.filter(
            announcement_run__in=[run.pk for run in runs], status=Message.Status.QUEUED
        )
        .order_by()
        .values("announcement_run")
        .annotate(due=Min(Coalesce("scheduled_at", "created_at")))
    )
    return {row["announcement_run"]: row["due"] + age for row in first_due}


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
