"""Fan-out: one run becomes one message per recipient, a batch per transaction.

The run holds its recipients (fixed when it started) and a cursor. Each
batch locks the announcement and the run, creates the messages for the next
slice of recipients that do not have one yet, advances the cursor and commits. A
worker killed mid-batch rolls that batch back and whoever runs the fan-out
next redoes it; the unique constraint on (run, conversation) makes a second
message for the same recipient impossible even if two fan-outs overlap.

A body the bot can no longer send (its agent stopped announcing the msgtype)
fails the run with the reason instead of failing every batch again; any other
error is kept on the run for the scheduler, which restarts a stalled fan-out a
few times and then fails it with that error
(`resume_stalled_fan_outs`).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import Error as DatabaseAnyError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.errors import ApiError
from botadmin.logging import mask_secrets
from botadmin.reasons import Reason, ngettext_noop
from conversations.deletion_marks import NOT_BEING_DELETED
from conversations.models import Conversation
from messaging.models import Message
from messaging.scheduled import quiet_until
from messaging.sending import accept_outbound_bulk

from .models import Announcement, AnnouncementRun

logger = logging.getLogger(__name__)

CANNOT_SEND = gettext_noop("this bot cannot send the message: %(error)s")
# Restarts of a fan-out without progress before its run fails (`resume_stalled_fan_outs`):
# with the default stall of 60 s, restarted after 1, 2, 4, 8 and 16 minutes, failed at 32.
MAX_FAN_OUT_RESTARTS = 5


def fan_out_on_commit(run_id: int) -> None:
    """After the commit; a fan-out the broker never got is resumed by the scheduler tick."""
    from .tasks import fan_out_task  # the tasks import this module

    fan_out_task.delay_on_commit(run_id)


def fan_out(run_id: int, batch_size: int | None = None) -> None:
    """Create every missing message of the run; safe to call again at any point."""
    batch_size = batch_size or settings.BOTADMIN_ANNOUNCEMENT_BATCH_SIZE
    try:
        while fan_out_batch(run_id, batch_size):
            pass
    except Exception as error:
        _keep_error(run_id, error)
        raise


def _keep_error(run_id: int, error: Exception) -> None:
    """What the scheduler says when it gives up on the run; best effort (the database
    may be what failed). `updated_at` is left alone: it is when the run last moved. The
    console shows it, so a secret in it (a URL's key, a DSN's password) is masked first."""
    try:
        AnnouncementRun.objects.filter(pk=run_id, status=AnnouncementRun.Status.FANNING_OUT).update(
            last_error=reasons.shorten(mask_secrets(repr(error)), 1000)
        )
    except DatabaseAnyError:  # a lost connection (InterfaceError) included
        logger.warning("Could not record the error of announcement run %s.", run_id)


def fan_out_batch(run_id: int, batch_size: int) -> bool:
    """Create the next batch in its own transaction; False once there is nothing left to do."""
    now = timezone.now()
    with transaction.atomic():
        # Intent: the announcement, then the run — the order pause, resume and cancel
        # lock them in, so an operator's action and a batch (which pauses the
        # announcement of a switched-off bot) wait for each other instead of
        # deadlocking. The run row serialises fan-outs of the same run.
        announcement = (
            Announcement.objects.select_for_update(of=("self",))
            .select_related("bot")
            .get(runs=run_id)
        )
        run = AnnouncementRun.objects.select_for_update().get(pk=run_id)
        run.announcement = announcement
        if run.status != AnnouncementRun.Status.FANNING_OUT:
            return False  # paused, cancelled, failed or done: resume or retry re-enqueues it
        ids = run.recipient_ids[run.fanout_cursor : run.fanout_cursor + batch_size]
        if not ids:
            run.status = AnnouncementRun.Status.SENDING
            run.fanned_out_at = now
            run.save(update_fields=["status", "fanned_out_at", "updated_at"])
            return False
        bot = announcement.bot
        if not bot.is_active:
            # The bot was switched off: hold the run instead of failing on every retry.
            # Resuming the announcement (once the bot is back) continues here.
            logger.warning("Bot %s is inactive; announcement run %s paused.", bot.pk, run.pk)
            run.status = AnnouncementRun.Status.PAUSED
            run.save(update_fields=["status", "updated_at"])
            announcement.status = Announcement.Status.PAUSED
            announcement.save(update_fields=["status", "updated_at"])
            return False
        done = set(
            Message.objects.filter(announcement_run=run, conversation_id__in=ids).values_list(
                "conversation_id", flat=True
            )
        )
        # Not one whose deletion was asked for: it takes no new message (as /api/send
        # answers 7000106), and its recipient counts as skipped (`progress.runs_progress`).
        # Not locked: a lock here would make contact syncs and inbound messages updating
        # these rows wait for the batch (and a sync writing them in another order could
        # deadlock with it). A deletion asked for during this statement deletes what the
        # batch made with the rest of the conversation's messages.
        conversations = Conversation.objects.filter(
            NOT_BEING_DELETED, pk__in=set(ids) - done
        ).order_by("pk")
        try:
            accept_outbound_bulk(
                bot=bot,
                conversations=conversations,
                body=announcement.body,
                source=Message.Source.ANNOUNCEMENT,
                created_by=announcement.created_by,
                created_by_label=announcement.created_by_label,
                send_at=quiet_until(bot, now),
                announcement_run=run,
            )
        except ApiError as error:
            # Refused before anything was written (validation), so the transaction
            # goes on. Every later batch would be refused alike: the run stops here
            # with the reason; the announcement keeps its schedule and may be edited.
            fail(run, Reason(CANNOT_SEND, error=str(error)))
            return False
        run.fanout_cursor += len(ids)
        # It moves: the scheduler's count of restarts starts again, an old error is past.
        run.restarts, run.last_error = 0, ""
        run.save(update_fields=["fanout_cursor", "restarts", "last_error", "updated_at"])
    return True


def fail(run: AnnouncementRun, reason: Reason) -> None:
    """Stop a run that cannot be prepared (locked by the caller): the recipients not
    handed out count as failed, and retrying the run continues from there."""
    logger.warning("Announcement run %s failed: %s", run.pk, reason)
    run.status = AnnouncementRun.Status.FAILED
    run.last_error = reason
    run.save(update_fields=["status", "last_error", "updated_at"])


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
                fan_out_on_commit(pk)
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
