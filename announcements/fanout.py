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
(`announcements.services.resume_stalled_fan_outs`).
"""

import logging

from django.conf import settings
from django.db import Error as DatabaseAnyError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.errors import ApiError
from botadmin.logging import mask_secrets
from botadmin.reasons import Reason
from conversations.models import Conversation
from messaging.models import Message
from messaging.scheduled import quiet_until
from messaging.sending import accept_outbound_bulk

from .models import Announcement, AnnouncementRun

logger = logging.getLogger(__name__)

CANNOT_SEND = gettext_noop("this bot cannot send the message: %(error)s")


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
        try:
            accept_outbound_bulk(
                bot=bot,
                conversations=Conversation.objects.filter(pk__in=set(ids) - done).order_by("pk"),
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
