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

What each deletes and in which order: deletions/steps.py; running the jobs:
deletions/batches.py (both imported from here as well, for their callers).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery

from audit.services import record_action
from conversations.bot_changes import deactivate_for_deletion
from conversations.deletion_marks import mark_being_deleted
from conversations.models import Bot, Conversation
from conversations.roles import is_bot_admin
from messaging.delivery_claim import PENDING_STATUSES
from messaging.models import Message

from .batches import GAVE_UP as GAVE_UP
from .batches import RETRY_SCHEDULE as RETRY_SCHEDULE
from .batches import abandoned_jobs as abandoned_jobs
from .batches import run_job as run_job
from .models import DeletionJob
from .steps import BOT_STEPS as BOT_STEPS
from .steps import CONVERSATION_STEPS as CONVERSATION_STEPS
from .steps import DETACHED as DETACHED
from .steps import TARGETS, planned_counts
from .steps import progress_rows as progress_rows
from .steps import what_goes as what_goes

Status = DeletionJob.Status
Kind = DeletionJob.Kind


class DeletionInProgress(Exception):
    """The bot's (or the conversation's bot's) deletion is under way."""


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
