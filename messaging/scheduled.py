"""Messages that wait for their time: releasing them when due, quiet hours, cancelling.

A scheduled message is a row with status `scheduled` and `scheduled_at`.
Messaging's release task (`tasks.release_scheduled_messages`, one Celery beat
entry, woken too by `wake_release`) calls `release_due_messages`, which
locks a batch of due rows, skips rows another tick holds, and turns each
into `queued` exactly once before waking a delivery worker. Announcement
messages that fall inside their bot's quiet hours get a new `scheduled_at`
(when the window opens) instead, so the delivery engine never needs to
know about quiet hours.

A message found more than BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES after its
time (botadmin was stopped, the scheduler was down) is not sent: it fails with
a `late` reason that the status API, the audit log and the console show. A
reminder for a 9:00 meeting is worse than nothing at 15:00.
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin.errors import Err, errmsg_value
from botadmin.reasons import Reason, ngettext_noop
from botadmin.timezones import zone_or_default
from conversations.models import Bot

from .models import Message, could_be_msgid
from .outbox import enqueue_delivery
from .timeline import move_to_end

RELEASE_BATCH = 500
# A scheduled message released more than BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES late.
LATE = ngettext_noop(
    "late: not sent, because it was still waiting more than %(minutes)s minute after its "
    "scheduled time (BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES)",
    "late: not sent, because it was still waiting more than %(minutes)s minutes after its "
    "scheduled time (BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES)",
    "minutes",
)
# What rows stored before LATE had a singular say ("more than 1 minutes"): kept so they
# translate. Their English stays as it was stored.
EARLIER_LATE = gettext_noop(
    "late: not sent, because it was still waiting more than %(minutes)s minutes "
    "after its scheduled time (BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES)"
)


def quiet_until(bot: Bot, at: datetime) -> datetime | None:
    """When the bot's quiet window that contains `at` opens again, or None if `at` is not quiet.

    The window is read in the bot's time zone (the server's when it has none)
    and may cross midnight (22:00–08:00).
    """
    start, end = bot.quiet_hours_start, bot.quiet_hours_end
    if start is None or end is None or start == end:
        return None
    tz = zone_or_default(bot.timezone)
    local = at.astimezone(tz)
    now = local.time()
    inside = start <= now < end if start < end else (now >= start or now < end)
    if not inside:
        return None
    return _first_after(local.date(), end, tz, at) or _first_after(
        local.date() + timedelta(days=1), end, tz, at
    )


def _first_after(day, end, tz, at: datetime) -> datetime | None:
    """`end` on `day` in `tz`, the first of its two times after `at` on a fall-back day (both
    compared as instants: aware times of one zone compare by wall clock, fold ignored)."""
    opens = datetime.combine(day, end, tzinfo=tz)
    second = opens.replace(fold=1)
    if not _exists(opens):
        # The clock jumps from before `end` to after it: the window is over when it jumps,
        # as the wall-clock test in quiet_until says (03:00 EDT for 02:30 in New York).
        candidates = (_end_of_gap(opens),)
    elif opens.utcoffset() != second.utcoffset():
        candidates = (opens, second)  # the wall time happens twice
    else:
        candidates = (opens,)
    return next((c for c in candidates if c.astimezone(UTC) > at.astimezone(UTC)), None)


def _exists(aware: datetime) -> bool:
    """False for a wall time skipped by a spring-forward change."""
    return aware.astimezone(UTC).astimezone(aware.tzinfo).replace(tzinfo=None, fold=0) == (
        aware.replace(tzinfo=None, fold=0)
    )


def _end_of_gap(skipped: datetime) -> datetime:
    """The instant the spring-forward change that skips the wall time `skipped` happens.

    zoneinfo does not expose its transitions. Read with the offset from after the change
    (fold=1, PEP 495) a skipped wall time is an instant before the change, with the offset
    from before it (fold=0) one after; the change is the first second between them that
    has the new offset.
    """
    tz, new_offset = skipped.tzinfo, skipped.replace(fold=1).utcoffset()
    before = int(skipped.replace(fold=1).timestamp())
    after = int(skipped.replace(fold=0).timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == new_offset:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, tz)


def release_due_messages(now: datetime | None = None) -> int:
    """Queue every scheduled message whose time has come; returns how many were queued."""
    now = now or timezone.now()
    released = 0
    while True:
        queued, seen = _release_batch(now)
        released += queued
        if seen < RELEASE_BATCH:
            return released


def wake_release() -> None:
    """Release what became due now (held messages given a time) once this commits, rather
    than at the release task's next beat."""
    from .tasks import release_scheduled_messages  # the tasks import this module

    release_scheduled_messages.delay_on_commit()


def _release_batch(now: datetime) -> tuple[int, int]:
    with transaction.atomic():
        # Lock the due rows; rows a concurrent tick already holds are skipped,
        # so two ticks never release the same message.
        due = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=Message.Status.SCHEDULED, scheduled_at__lte=now)
            .select_related("bot")
            .order_by("scheduled_at")[:RELEASE_BATCH]
        )
        to_queue, late = [], []
        cutoff = settings.BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES
        for message in due:
            if cutoff > 0 and now - message.scheduled_at > timedelta(minutes=cutoff):
                late.append(message.pk)
                continue
            opens = (
                quiet_until(message.bot, now)
                if message.source == Message.Source.ANNOUNCEMENT
                else None
            )
            if opens is not None:
                Message.objects.filter(pk=message.pk, status=Message.Status.SCHEDULED).update(
                    scheduled_at=opens, updated_at=now
                )
            else:
                to_queue.append(message.pk)
        Message.objects.filter(pk__in=to_queue, status=Message.Status.SCHEDULED).update(
            status=Message.Status.QUEUED, updated_at=now
        )
        # The console's timeline shows them where they are sent, not where they were made.
        move_to_end(to_queue)
        Message.objects.filter(pk__in=late, status=Message.Status.SCHEDULED).update(
            status=Message.Status.FAILED,
            updated_at=now,
            last_error=Reason(LATE, minutes=cutoff),
        )
        for pk in to_queue:
            enqueue_delivery(pk)
    return len(to_queue), len(due)


def cancel_scheduled_message(bot: Bot, msgid: str) -> Message:
    """Cancel one of the bot's scheduled messages; ApiError if it is unknown or already released."""
    if not could_be_msgid(msgid):
        raise Err.NO_SUCH_MESSAGE.error(f"no such message: {errmsg_value(msgid)}")
    changed = Message.objects.filter(
        bot=bot, msgid=msgid, direction=Message.Direction.OUT, status=Message.Status.SCHEDULED
    ).update(status=Message.Status.CANCELLED, updated_at=timezone.now())
    message = Message.objects.filter(bot=bot, msgid=msgid).first()
    if message is None:
        raise Err.NO_SUCH_MESSAGE.error(f"no such message: {errmsg_value(msgid)}")
    if not changed:
        raise Err.NOT_CANCELLABLE.error(
            f"message {msgid} is {message.status}; only scheduled messages can be cancelled"
        )
    return message
