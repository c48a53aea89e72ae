"""Deleting a bot or a conversation with everything it holds, a batch at a time.

A bot with years of history has millions of messages, attempts and media rows:
one cascading DELETE would hold a transaction (and SQLite's one write lock) for
minutes, and Django's collector would load every row first. Instead a
`DeletionJob` is requested (`request_bot_deletion`, `request_conversation_deletion`:
the console, the admin and the shell all call these) and a worker runs it
(`run_job`): every step deletes at most BOTADMIN_RETENTION_BATCH_SIZE rows of one
kind per transaction, in the order the foreign keys need, the job's counts and
heartbeat written in the same transaction. A worker killed halfway loses nothing:
the next run (the sweeper's, after LEASE) goes on where the rows stop.

While a bot's job runs the bot is inactive: the API refuses its sends (BOT_INACTIVE),
the delivery engine claims none of its messages, announcements make no more. While a
conversation's runs it is marked (`conversations.deletion_marks`): the API refuses sends
to it (CONVERSATION_DELETED) and lists it no more; its id is kept when it is gone.
A message a worker is sending meanwhile is deleted once its outcome is written (the job
waits, at most for its lease), and the job counts the sends that ended after it was asked
for by outcome (`DeletionJob.sends`: the progress page and the audit entry tell them).

A model that points to Bot or Conversation must be in the deletion order below
(`BOT_STEPS`, `CONVERSATION_STEPS`) or in `DETACHED`:
tests/deletions/test_coverage.py fails for one that is not.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Model, OuterRef, ProtectedError, Q, QuerySet, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from announcements.models import Announcement, AnnouncementRun, SavedAudience
from audit.models import OperatorAction
from audit.services import record_action
from botadmin.logging import error_text
from botadmin.reasons import Reason, ngettext_noop
from conversations.bot_changes import deactivate_for_deletion
from conversations.deletion_marks import mark_being_deleted, record_deleted
from conversations.models import Bot, BotConnection, Conversation, DeletedConversation, SyncRun
from conversations.roles import is_bot_admin
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from messaging.delivery_claim import PENDING_STATUSES
from messaging.media_retention import delete_unused_files
from messaging.models import CardTaskId, DeliveryAttempt, Message, MessageMedia, UploadedMedia
from messaging.outbox import RetrySchedule, retry_delay

from .kinds import kind_name
from .models import DeletionJob

logger = logging.getLogger(__name__)

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
# The confirmation counts stop here: counting ten million rows would keep the page waiting.
COUNT_CAP = 1_000_000


@dataclass(frozen=True)
class Step:
    """One kind of row to delete, found from the target through `lookup`.

    `with_it`: the models whose rows go with each batch by cascade (a message's
    attempts, media and webhook deliveries), counted too. `files`: the field
    naming a stored file the rows keep, let go after the batch. `sends`: the rows are
    messages: one a worker is sending is deleted once its outcome is written
    (`_wait_for_sends`), and those whose send ended after the deletion was asked for are
    counted by outcome (`DeletionJob.sends`)."""

    model: type[Model]
    lookup: str
    with_it: tuple[type[Model], ...] = ()
    files: str = ""
    sends: bool = False

    def rows(self, target) -> QuerySet:
        return self.model.objects.filter(**{self.lookup: target})


MESSAGE_DEPENDENTS = (DeliveryAttempt, MessageMedia, WebhookDelivery, WebhookAttempt)

# In order: nothing a step deletes is still referred to (PROTECT) by a later one.
BOT_STEPS = (
    Step(Message, "bot", MESSAGE_DEPENDENTS, files="media__stored_file", sends=True),
    Step(AnnouncementRun, "announcement__bot"),
    Step(Announcement, "bot"),
    Step(SavedAudience, "bot"),
    Step(WebhookEndpoint, "bot"),
    Step(UploadedMedia, "bot", files="stored_file"),
    Step(CardTaskId, "bot"),
    Step(SyncRun, "bot"),
    Step(DeletedConversation, "bot"),
    Step(Conversation, "bot"),
    Step(BotConnection, "bot"),
)
CONVERSATION_STEPS = (
    Step(Message, "conversation", MESSAGE_DEPENDENTS, files="media__stored_file", sends=True),
)

# Models that point to a bot or a conversation and keep their rows when it goes: the audit
# log keeps its entries (with the names they were written with), unlinked in batches.
DETACHED = {OperatorAction: "bot"}

# Where the target lives and which steps empty it.
TARGETS: dict[str, tuple[type[Model], tuple[Step, ...]]] = {
    Kind.BOT: (Bot, BOT_STEPS),
    Kind.CONVERSATION: (Conversation, CONVERSATION_STEPS),
}

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


class DeletionInProgress(Exception):
    """The bot's (or the conversation's bot's) deletion is under way."""


def batch_size() -> int:
    return settings.BOTADMIN_RETENTION_BATCH_SIZE


# --- What would go ------------------------------------------------------------


def _capped_count(rows: QuerySet) -> int:
    return rows.values("pk")[: COUNT_CAP + 1].count()


def planned_counts(kind: str, target) -> dict[str, int]:
    """What deleting the target removes, by model label ("messaging.Message": 12034),
    each count stopping at COUNT_CAP + 1. The model's own row is not counted."""
    _model, steps = TARGETS[kind]
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.model._meta.label] = _capped_count(step.rows(target))
        prefix = step.lookup
        for dependent in step.with_it:
            path = _path_to(dependent, step.model)
            counts[dependent._meta.label] = _capped_count(
                dependent.objects.filter(**{f"{path}__{prefix}": target})
            )
    return counts


def _path_to(model: type[Model], ancestor: type[Model]) -> str:
    """The lookup from `model` to `ancestor` along its foreign keys (WebhookAttempt to
    Message: "delivery__message")."""
    for field in model._meta.get_fields():
        if field.many_to_one and field.related_model is ancestor:
            return field.name
    for field in model._meta.get_fields():
        if field.many_to_one and field.related_model is not None:
            try:
                return f"{field.name}__{_path_to(field.related_model, ancestor)}"
            except LookupError:
                continue
    raise LookupError(f"{model._meta.label} does not reach {ancestor._meta.label}")


def counted_over_cap(count: int) -> bool:
    return count > COUNT_CAP


# --- Requesting ---------------------------------------------------------------


def request_bot_deletion(bot: Bot, actor, *, via: str) -> tuple[DeletionJob, bool]:
    """Deactivate the bot and queue its deletion, or join the one under way.

    Returns the job and whether it is new. The audit log records the request; the
    job records the deletion when it is done."""
    return _request(Kind.BOT, bot, bot, actor, via=via)


def request_conversation_deletion(
    conversation: Conversation, actor, *, via: str
) -> tuple[DeletionJob, bool]:
    return _request(Kind.CONVERSATION, conversation, conversation.bot, actor, via=via)


def _request(kind: str, target, bot: Bot, actor, *, via: str) -> tuple[DeletionJob, bool]:
    authenticated = getattr(actor, "is_authenticated", False)
    planned = planned_counts(kind, target)
    try:
        with transaction.atomic():
            on_the_wire = _sending(kind, target)
            job = DeletionJob.objects.create(
                kind=kind,
                target_id=target.pk,
                target_label=str(target)[:255],
                bot_ref=bot.pk,
                bot_label=bot.name[:200],
                requested_by=actor if authenticated else None,
                requested_by_label=actor.get_username()[:150] if authenticated else "",
                planned=planned,
                on_the_wire=on_the_wire,
            )
            transaction.on_commit(lambda: _add_sending(job, kind, target), robust=True)
            if kind == Kind.BOT:
                deactivate_for_deletion(bot)
            else:
                mark_being_deleted(target)
            record_action(
                actor,
                f"{kind}.delete_request",
                bot=bot,
                target=target,
                details={"via": via, "job": job.pk, "planned": planned},
            )
    except IntegrityError:
        existing = unfinished_job(kind, target.pk)
        if existing is None:
            raise
        return existing, False
    from .tasks import run_deletion_job  # the task module imports this one

    run_deletion_job.delay_on_commit([job.pk])
    return job, True


def _sending(kind: str, target) -> list[int]:
    """The ids of the target's messages a worker holds (`sending`, its lease run out or
    not): the sends whose outcome may come after the deletion was asked for. What the
    database holds, so that telling them (`_ended_sends`) compares no two hosts' clocks:
    a send's `updated_at` is its worker's time, `requested_at` the web host's."""
    (step,) = (step for step in TARGETS[kind][1] if step.sends)
    sending = step.rows(target).filter(PENDING_STATUSES, status=Message.Status.SENDING)
    return list(sending.order_by("pk").values_list("pk", flat=True))


def _add_sending(job: DeletionJob, kind: str, target) -> None:
    """Once the request is committed, the messages claimed meanwhile: a claim that read the
    bot as still active and committed after the request's read may be sent, if its
    worker's last check (messaging/delivery_send.py) came before the request's commit.
    One claimed later is kept back by that check."""
    claimed_meanwhile = set(_sending(kind, target)) - set(job.on_the_wire)
    if claimed_meanwhile:
        DeletionJob.objects.filter(pk=job.pk).update(
            on_the_wire=sorted({*job.on_the_wire, *claimed_meanwhile})
        )


def unfinished_job(kind: str, target_id: int) -> DeletionJob | None:
    return DeletionJob.objects.filter(
        kind=kind, target_id=target_id, status__in=DeletionJob.UNFINISHED
    ).first()


def bot_being_deleted(bot_id: int) -> DeletionJob | None:
    return unfinished_job(Kind.BOT, bot_id)


# --- While it is deleted ------------------------------------------------------


def deletion_under_way(bot_id: int, conversation_pk: int | None = None) -> DeletionJob | None:
    """The unfinished job deleting the bot, or the bot's conversation `conversation_pk`:
    while there is one, nothing new is written for it from the console."""
    targets = Q(kind=Kind.BOT, target_id=bot_id)
    if conversation_pk is not None:
        targets |= Q(kind=Kind.CONVERSATION, target_id=conversation_pk)
    return DeletionJob.objects.filter(
        targets, bot_ref=bot_id, status__in=DeletionJob.UNFINISHED
    ).first()


def newest_job_subquery(bot_field: str, conversation_field: str | None = None) -> Subquery:
    """The id of the newest job not done about the row's bot (or its conversation), for an
    annotation: a page that loads the conversation learns of its deletion in the same query."""
    targets = Q(kind=Kind.BOT, target_id=OuterRef(bot_field))
    if conversation_field is not None:
        targets |= Q(kind=Kind.CONVERSATION, target_id=OuterRef(conversation_field))
    jobs = DeletionJob.objects.filter(targets).exclude(status=Status.DONE)
    return Subquery(jobs.order_by("-requested_at", "-id").values("pk")[:1])


def shown(job: DeletionJob | None, bot: Bot) -> DeletionJob | None:
    """The job a page about the bot or its conversation tells of: one under way, or one that
    failed (with its reason and "Try again") unless the bot was activated again since,
    its deletion given up."""
    if job is None or job.status == Status.DONE:
        return None
    if job.status == Status.FAILED and job.kind == Kind.BOT and bot.is_active:
        return None
    return job


@dataclass(frozen=True)
class BotDeletions:
    """The jobs not done about a bot: its own, and its conversations' by their id."""

    bot: DeletionJob | None
    conversations: dict[int, DeletionJob]

    def about(self, conversation_pk: int | None = None) -> DeletionJob | None:
        return self.bot or self.conversations.get(conversation_pk)


def deletions_of(bot: Bot) -> BotDeletions:
    """One query: what of the bot is being deleted or failed to be (the newest job of each)."""
    bot_job, conversations = None, {}
    jobs = DeletionJob.objects.filter(bot_ref=bot.pk).exclude(status=Status.DONE)
    for job in jobs.order_by("requested_at", "id"):
        if job.kind == Kind.BOT:
            bot_job = shown(job, bot)
        else:
            conversations[job.target_id] = job
    return BotDeletions(bot_job, conversations)


def bots_being_deleted(bot_ids) -> dict[int, int]:
    """Of these bots, those being deleted: bot id → job id."""
    jobs = DeletionJob.objects.filter(
        kind=Kind.BOT, target_id__in=list(bot_ids), status__in=DeletionJob.UNFINISHED
    )
    return dict(jobs.values_list("target_id", "pk"))


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


def retry(job: DeletionJob, actor) -> DeletionJob:
    """Start a failed job again with a fresh schedule of attempts (the operator's and the
    admin's "Try again"), in the audit log. A job that did not fail, or whose target is
    being deleted by another job meanwhile, is left as it is (returned: the one to follow)."""
    if job.status != Status.FAILED:
        return job
    bot = Bot.objects.filter(pk=job.bot_ref).first()
    model, _steps = TARGETS[job.kind]
    target = model.objects.filter(pk=job.target_id).first()
    try:
        with transaction.atomic():
            taken = DeletionJob.objects.filter(pk=job.pk, status=Status.FAILED).update(
                status=Status.QUEUED,
                attempts=0,
                next_attempt_at=None,
                error="",
                finished_at=None,
                heartbeat_at=None,
            )
            if taken:
                record_action(
                    actor,
                    "deletion.retry",
                    bot=bot,
                    target=target,
                    label=None if target is not None else job.target_label,
                    details={"job": job.pk, "kind": job.kind, "error": str(job.error)},
                )
    except IntegrityError:
        return unfinished_job(job.kind, job.target_id) or job
    from .tasks import run_deletion_job  # the task module imports this one

    if taken:
        run_deletion_job.delay_on_commit([job.pk])
    job.refresh_from_db()
    return job


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


# --- Showing ------------------------------------------------------------------


def progress_rows(job: DeletionJob) -> list[dict]:
    """Per kind: its name, how many there were and how many went, in deletion order."""
    labels = list(dict.fromkeys([*job.planned, *job.counts]))
    rows = []
    for label in labels:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        planned = job.planned.get(label)
        rows.append(
            {
                "label": label,
                "name": kind_name(model),
                "planned": min(planned, COUNT_CAP) if planned is not None else None,
                "over_cap": planned is not None and counted_over_cap(planned),
                "deleted": job.counts.get(label, 0),
            }
        )
    return rows


def what_goes(kind: str, target) -> list[dict]:
    """A confirmation's rows (progress_rows) before the job: the kinds deleting the target
    removes some of. A kind it removes none of (a bridge bot's long connection) is left
    out: fifteen rows, most of them 0, hid the few that matter."""
    rows = progress_rows(DeletionJob(planned=planned_counts(kind, target)))
    return [row for row in rows if row["planned"]]


def may_retry(user, job: DeletionJob) -> bool:
    """Whether `user` may try a failed job again: who may ask for it, the bot's bot admins
    (superusers among them). A bot gone meanwhile: superusers only."""
    if job.status != Status.FAILED:
        return False
    if user.is_superuser:
        return True
    bot = Bot.objects.filter(pk=job.bot_ref).first()
    return bot is not None and is_bot_admin(user, bot)


def jobs_visible_to(user) -> QuerySet[DeletionJob]:
    """Superusers see every job; others the ones they asked for."""
    jobs = DeletionJob.objects.all()
    if user.is_superuser:
        return jobs
    return jobs.filter(requested_by=user)
