"""Running a deletion job (deletions/services.py asks for one): its steps
(deletions/steps.py) a batch at a time, each batch and the job's counts in one
transaction; its failures tried again on a schedule; the jobs no worker runs found
again by the sweeper."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Model, ProtectedError, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from audit.services import record_action
from botadmin.logging import error_text
from botadmin.reasons import Reason, ngettext_noop
from conversations.bot_changes import deactivate_for_deletion
from conversations.deletion_marks import mark_being_deleted, record_deleted
from messaging.delivery_claim import PENDING_STATUSES
from messaging.media_retention import delete_unused_files
from messaging.models import Message
from messaging.outbox import RetrySchedule, retry_delay

from .models import DeletionJob
from .steps import DETACHED, TARGETS, Step

logger = logging.getLogger(__name__)

Status = DeletionJob.Status
Kind = DeletionJob.Kind

Status = DeletionJob.Status
Kind = DeletionJob.Kind

# A running job whose heartbeat is older than this was abandoned (its worker killed):
# the sweeper hands it to another. A batch takes well under a second.
LEASE = timedelta(minutes=5)
# A queued job whose wake-up was lost is picked up by the sweeper after this.
QUEUED_GRACE = timedelta(minutes=1)
# Batches one task runs before it hands the rest to a fresh task (behind the other work
# queued meanwhile, and well inside a broker's visibility timeout).
BATCHES_PER_TASK = 200

# How often a job waiting for a send on the wire (`_wait_for_sends`) looks again.
SEND_POLL_SECONDS = 0.2
# The outcomes of a send the job counts when it ended after the deletion was asked for.
SEND_ENDINGS = (Message.Status.SENT, Message.Status.FAILED, Message.Status.UNCERTAIN)

# A failed run (an error, or rows still referring to the target when it is deleted) is
# tried again after these delays, 5 runs in all over about two and a half hours; then the
# job fails, saying why, until someone presses "Try again". Each run deletes what is still
# there, so a run repeated after a failure anywhere in it is harmless.
RETRY_SCHEDULE = RetrySchedule((60.0, 300.0, 1800.0, 7200.0), jitter=0.1)
STILL_REFERENCED = gettext_noop(
    "%(what)s still refer to it (something wrote them during the deletion)"
)
GAVE_UP = ngettext_noop(
    "the deletion stopped after %(n)s failed attempt: %(reason)s",
    "the deletion stopped after %(n)s failed attempts: %(reason)s",
    "n",
)


def batch_size() -> int:
    return settings.BOTADMIN_RETENTION_BATCH_SIZE


# --- Running ------------------------------------------------------------------


def _due(now: datetime) -> Q:
    """Queued and not waiting for the time of its next attempt."""
    return Q(status=Status.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def claim(job_id: int, now: datetime | None = None) -> DeletionJob | None:
    """Take the job if it waits for a worker (and its next attempt is due) or its worker
    stopped beating (LEASE)."""
    now = now or timezone.now()
    claimable = _due(now) | Q(status=Status.RUNNING, heartbeat_at__lt=now - LEASE)
    taken = DeletionJob.objects.filter(claimable, pk=job_id).update(
        status=Status.RUNNING, heartbeat_at=now, next_attempt_at=None
    )
    if not taken:
        return None
    DeletionJob.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    return DeletionJob.objects.get(pk=job_id)


def run_job(job_id: int, *, max_batches: int = BATCHES_PER_TASK) -> bool:
    """Run a claimed-or-claimable job for at most `max_batches` batches.

    True when it needs another run (the caller publishes one); the job is then queued
    again. Safe to run twice, and after a worker died anywhere in it: each batch
    deletes what is still there."""
    job = claim(job_id)
    if job is None:
        return False
    model, steps = TARGETS[job.kind]
    target = model.objects.filter(pk=job.target_id).first()
    if job.kind == Kind.BOT and target is not None and target.is_active:
        deactivate_for_deletion(target)  # re-activated meanwhile: nothing new may come
    if job.kind == Kind.CONVERSATION and target is not None and not target.deletion_requested_at:
        mark_being_deleted(target)  # asked for by an older release, which did not mark it
    try:
        batches = 0
        for step in steps if target is not None else ():
            while batches < max_batches and _delete_batch(job, step, target):
                batches += 1
            if batches >= max_batches:
                DeletionJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
                    status=Status.QUEUED
                )
                return True
        if target is not None:
            for field, lookup in _detached_for(model):
                while _detach_batch(field, lookup, target):
                    pass
        _finish(job, target)
    except ProtectedError as error:
        # Something new pointed at the target meanwhile (a message stored a moment
        # before the bot went inactive): a later run deletes it, unless it keeps coming.
        logger.warning("Deletion job %s: the target is still referred to", job.pk)
        _failed(job, Reason(STILL_REFERENCED, what=_protected_names(error)))
    except Exception as error:
        logger.exception("Deletion job %s failed", job.pk)
        _failed(job, error_text(error)[:500])  # its own words, secrets masked
    return False


def _protected_names(error: ProtectedError) -> str:
    """The kinds of the rows that still refer to the target ("messages"), from the error:
    a parameter, so in English like the reason's own words."""
    with translation.override("en"):
        names = {str(obj._meta.verbose_name_plural) for obj in error.protected_objects}
    return ", ".join(sorted(names)) or "rows"


def _failed(job: DeletionJob, reason: str, now: datetime | None = None) -> None:
    """Count a failed run: queue the job for its next attempt after the schedule's delay,
    or, when the schedule is used up, fail it with the reason."""
    now = now or timezone.now()
    attempts = DeletionJob.objects.values_list("attempts", flat=True).get(pk=job.pk) + 1
    delay = retry_delay(RETRY_SCHEDULE, attempts)
    running = DeletionJob.objects.filter(pk=job.pk, status=Status.RUNNING)
    if delay is None:
        running.update(
            status=Status.FAILED,
            attempts=attempts,
            error=Reason(GAVE_UP, n=attempts, reason=reason),
            next_attempt_at=None,
            finished_at=now,
        )
        logger.error("Deletion job %s failed for good: %s", job.pk, reason)
    else:
        running.update(
            status=Status.QUEUED,
            attempts=attempts,
            error=reason,
            next_attempt_at=now + timedelta(seconds=delay),
        )


def _detached_for(model: type[Model]) -> list[tuple[type[Model], str]]:
    return [
        (detached, lookup)
        for detached, lookup in DETACHED.items()
        if detached._meta.get_field(lookup).related_model is model
    ]


def _delete_batch(job: DeletionJob, step: Step, target) -> bool:
    """Delete one batch of the step's rows (with what cascades from them); False when none
    were left."""
    rows = step.rows(target)
    if step.sends:
        rows = rows.exclude(_on_the_wire())
    # Any rows of the step, in no order: a sort of all a bot's conversations per batch would
    # cost more than the batch (the target's foreign key index finds them).
    ids = list(rows.order_by().values_list("pk", flat=True)[: batch_size()])
    if not ids:
        return step.sends and _wait_for_sends(job, step.rows(target))
    rows = step.model.objects.filter(pk__in=ids).only("pk")  # what the delete needs of each
    files = (
        set(rows.filter(**{f"{step.files}__isnull": False}).values_list(step.files, flat=True))
        if step.files
        else set()
    )
    with transaction.atomic():
        sends = _ended_sends(job, rows) if step.sends else {}
        _total, by_model = rows.delete()
        _count(job, by_model, sends)
    if files:
        delete_unused_files(files)
    return True


def _on_the_wire() -> Q:
    """A message a worker is sending: `sending` under a lease that has not run out. Its
    outcome is written when the call returns; past the lease the sweeper takes it back."""
    return PENDING_STATUSES & Q(status=Message.Status.SENDING, next_attempt_at__gt=timezone.now())


def _wait_for_sends(job: DeletionJob, messages: QuerySet) -> bool:
    """Wait, beating, while a worker sends one of these messages: deleted under it, the
    message would take the send's outcome with it, unrecorded. At most until its lease
    runs out (DELIVERY_SENDING_TIMEOUT); a message claimed but not yet sent is kept back
    by its worker at its next check (messaging/delivery_send.py). True if it waited."""
    waited = False
    while messages.filter(_on_the_wire()).exists():
        waited = True
        DeletionJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        time.sleep(SEND_POLL_SECONDS)
    return waited


def _ended_sends(job: DeletionJob, messages: QuerySet) -> dict[str, int]:
    """Of these messages, the outbound ones whose send ended after the deletion was asked
    for, by outcome: those a worker was sending then (`DeletionJob.on_the_wire`) that have
    an outcome now, since nothing else changes a message's status meanwhile. A job asked
    for by an older release has no such list: its sends are told by time, the sending
    worker's against the web host's (a few seconds' skew between them misleads it)."""
    ended = messages.filter(direction=Message.Direction.OUT, status__in=SEND_ENDINGS)
    if job.on_the_wire is None:
        ended = ended.filter(updated_at__gte=job.requested_at)
    else:
        ended = ended.filter(pk__in=job.on_the_wire)
    return dict(ended.order_by().values_list("status").annotate(n=Count("pk")))


def _detach_batch(model: type[Model], lookup: str, target) -> bool:
    ids = list(
        model.objects.filter(**{lookup: target})
        .order_by()
        .values_list("pk", flat=True)[: batch_size()]
    )
    if ids:
        model.objects.filter(pk__in=ids).update(**{lookup: None})
    return bool(ids)


def _count(job: DeletionJob, by_model: dict[str, int], sends: dict | None = None) -> None:
    """Add a batch's counts (and its `_ended_sends`) to the job (locked: two workers of one
    job add both) and beat."""
    locked = DeletionJob.objects.select_for_update().only("counts", "sends").get(pk=job.pk)
    counts = dict(locked.counts)
    for label, number in by_model.items():
        if number and not apps.get_model(label)._meta.auto_created:  # not an m2m table's
            counts[label] = counts.get(label, 0) + number
    changes = {"counts": counts, "heartbeat_at": timezone.now()}
    if sends:
        ended = dict(locked.sends or {})
        changes["sends"] = {
            status: ended.get(status, 0) + sends.get(status, 0) for status in ended | sends
        }
    DeletionJob.objects.filter(pk=job.pk).update(**changes)


def _finish(job: DeletionJob, target) -> None:
    with transaction.atomic():
        if target is not None:
            bot = target if job.kind == Kind.BOT else target.bot
            record_action(
                job.requested_by,
                f"{job.kind}.delete",
                bot=bot,
                target=target,
                details={"job": job.pk, **_fresh_counts(job)},
            )
            if job.kind == Kind.CONVERSATION:
                record_deleted(target)  # a send to it is told so, not "unknown"
            _total, by_model = target.delete()
            _count(job, by_model)
        DeletionJob.objects.filter(pk=job.pk).update(
            status=Status.DONE, finished_at=timezone.now(), heartbeat_at=timezone.now(), error=""
        )
    logger.info("Deletion job %s: %s %s deleted", job.pk, job.kind, job.target_label)


def _fresh_counts(job: DeletionJob) -> dict:
    """What the job deleted, and the sends that ended meanwhile (if any), for its audit entry."""
    counts, sends = DeletionJob.objects.values_list("counts", "sends").get(pk=job.pk)
    return {"deleted": counts, "sends": sends} if sends else {"deleted": counts}


def abandoned_jobs(now: datetime | None = None) -> list[int]:
    """Jobs no worker is running: queued ones whose wake-up was lost or whose next attempt
    is due, running ones whose worker stopped beating."""
    now = now or timezone.now()
    return list(
        DeletionJob.objects.filter(
            (
                _due(now)
                & (
                    Q(heartbeat_at__isnull=True, requested_at__lt=now - QUEUED_GRACE)
                    # Released by a task that handed the rest to a fresh one
                    # (BATCHES_PER_TASK), or waiting for the time of its next attempt.
                    | Q(heartbeat_at__lt=now - QUEUED_GRACE)
                    | Q(next_attempt_at__isnull=False)
                )
            )
            | Q(status=Status.RUNNING, heartbeat_at__lt=now - LEASE)
        ).values_list("pk", flat=True)
    )
