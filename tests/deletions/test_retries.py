"""A deletion that fails is tried again after a growing delay, each run deleting what is
still there; after the last attempt the job fails saying why, until someone tries again."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
import time_machine
from django.db.models.signals import post_save
from django.utils import timezone

from audit.models import OperatorAction
from conversations.models import Bot, Conversation
from deletions import services, tasks
from deletions.models import DeletionJob
from messaging.models import Message

TEXT = {"msgtype": "text", "text": {"content": "又一条"}}


@contextmanager
def messages_keep_arriving(conversation: Conversation, times: int | None = None):
    """A message arrives in the conversation at the last moment of its deletion (when the
    deletion writes its audit entry, just before the conversation row goes), `times` times
    or every time. It is stored in the deletion's last transaction, so it goes back with it:
    what stays is that the conversation was still referred to."""
    arrived = []

    def arrive(sender, instance, created, **kwargs):
        if instance.action != "conversation.delete" or (
            times is not None and len(arrived) >= times
        ):
            return
        arrived.append(
            Message.objects.create(
                bot=conversation.bot,
                conversation=conversation,
                direction=Message.Direction.IN,
                msgtype="text",
                body=TEXT,
                status=Message.Status.RECEIVED,
            )
        )

    post_save.connect(arrive, sender=OperatorAction, weak=False)
    try:
        yield arrived
    finally:
        post_save.disconnect(arrive, sender=OperatorAction)


def _job(job: DeletionJob) -> DeletionJob:
    job.refresh_from_db()
    return job


def test_a_final_delete_blocked_by_rows_written_meanwhile_is_tried_again_after_a_while(
    make_bot, make_history, superuser
):
    bot = make_bot()
    conversation = make_history(bot).conversations[0]
    job, _ = services.request_conversation_deletion(conversation, superuser, via="test")

    with messages_keep_arriving(conversation, times=1):
        assert services.run_job(job.pk) is False

    job = _job(job)
    assert job.status == DeletionJob.Status.QUEUED and job.attempts == 1
    assert "messages still refer to it" in job.error
    wait = job.next_attempt_at - timezone.now()
    assert timedelta(seconds=50) < wait < timedelta(seconds=70)
    # Not before its time: neither a stray task nor the sweeper runs it.
    assert services.run_job(job.pk) is False and _job(job).attempts == 1
    assert services.abandoned_jobs() == []

    with time_machine.travel(job.next_attempt_at + timedelta(seconds=1)):
        assert services.abandoned_jobs() == [job.pk]  # the sweeper hands it to a worker
        tasks.run_deletion_job([job.pk])

    job = _job(job)
    assert job.status == DeletionJob.Status.DONE
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert job.counts["messaging.Message"] == 5


@contextmanager
def failing_at_the_bot_s_audit_entry(error: Exception):
    """A bot's deletion fails with `error` at its last step (writing its audit entry),
    every time while this lasts."""

    def fail(sender, instance, created, **kwargs):
        if instance.action == "bot.delete":
            raise error

    post_save.connect(fail, sender=OperatorAction, weak=False)
    try:
        yield
    finally:
        post_save.disconnect(fail, sender=OperatorAction)


def test_after_the_last_attempt_the_job_fails_saying_why(make_bot, make_history, superuser):
    bot = make_bot()
    conversation = make_history(bot).conversations[0]
    job, _ = services.request_conversation_deletion(conversation, superuser, via="test")
    waits = []

    with messages_keep_arriving(conversation):
        for _attempt in range(10):
            services.run_job(job.pk)
            job = _job(job)
            if job.status == DeletionJob.Status.FAILED:
                break
            waits.append(job.next_attempt_at - timezone.now())
            DeletionJob.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())

    assert job.status == DeletionJob.Status.FAILED and job.attempts == 5
    assert job.error == (
        "the deletion stopped after 5 failed attempts: messages still refer to it "
        "(something wrote them during the deletion)"
    )
    assert job.finished_at is not None and job.next_attempt_at is None
    # Each wait longer than the one before: 1 min, 5 min, 30 min, 2 h (± a tenth).
    assert [w.total_seconds() / 60 for w in waits] == pytest.approx([1, 5, 30, 120], rel=0.11)
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert services.abandoned_jobs() == []  # not tried again by itself
    assert services.run_job(job.pk) is False


def test_an_error_is_tried_again_and_the_retry_starts_a_failed_job_afresh(
    make_bot, make_history, superuser
):
    bot = make_bot(name="flaky")
    make_history(bot)
    job, _ = services.request_bot_deletion(bot, superuser, via="test")

    with failing_at_the_bot_s_audit_entry(OSError("No space left on device")):
        for _attempt in range(5):
            DeletionJob.objects.filter(pk=job.pk).update(next_attempt_at=None)
            services.run_job(job.pk)

    job = _job(job)
    assert job.status == DeletionJob.Status.FAILED
    assert job.error == (
        "the deletion stopped after 5 failed attempts: OSError: No space left on device"
    )
    assert Message.objects.filter(bot=bot).count() == 0  # deleted before the last step
    assert not Bot.objects.get(pk=bot.pk).is_active

    retried = services.retry(job, superuser)
    assert retried.pk == job.pk and retried.status == DeletionJob.Status.QUEUED
    assert retried.attempts == 0 and retried.error == ""
    assert OperatorAction.objects.filter(action="deletion.retry", bot_label="flaky").exists()
    assert services.run_job(job.pk) is False

    job = _job(job)
    assert job.status == DeletionJob.Status.DONE
    assert not Bot.objects.filter(pk=bot.pk).exists()


def test_retrying_a_job_that_did_not_fail_changes_nothing(make_bot, superuser):
    bot = make_bot()
    job, _ = services.request_bot_deletion(bot, superuser, via="test")

    assert services.retry(job, superuser).status == DeletionJob.Status.QUEUED
    assert not OperatorAction.objects.filter(action="deletion.retry").exists()


def test_retrying_when_another_job_deletes_the_target_follows_that_one(
    make_bot, make_history, superuser
):
    bot = make_bot()
    conversation = make_history(bot).conversations[0]
    failed, _ = services.request_conversation_deletion(conversation, superuser, via="test")
    DeletionJob.objects.filter(pk=failed.pk).update(status=DeletionJob.Status.FAILED)
    newer, created = services.request_conversation_deletion(conversation, superuser, via="test")
    assert created

    assert services.retry(_job(failed), superuser).pk == newer.pk
    assert _job(failed).status == DeletionJob.Status.FAILED


def test_a_failure_reason_masks_the_secrets_in_the_error_s_text(make_bot, make_history, superuser):
    """Operators read the reason on the deletions page: an error that quotes a URL (a
    request made from a signal handler, a storage's endpoint) keeps its words, not the
    key in them."""
    bot = make_bot(name="leaky")
    make_history(bot)
    job, _ = services.request_bot_deletion(bot, superuser, via="test")

    unreachable_hook = ConnectionError(
        "Max retries exceeded with url: /cgi-bin/webhook/send?key=3f2a-robot-key"
        " (Connection refused)"
    )
    with failing_at_the_bot_s_audit_entry(unreachable_hook):
        services.run_job(job.pk)

    job = _job(job)
    assert job.status == DeletionJob.Status.QUEUED
    assert job.error == (
        "ConnectionError: Max retries exceeded with url: /cgi-bin/webhook/send?key=********"
        " (Connection refused)"
    )
