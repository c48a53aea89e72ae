"""Deleting a bot or a conversation: everything it held goes, a batch at a time, the
files nothing shows any more with it; a job a killed worker left is finished by the next."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from announcements.models import Announcement, AnnouncementRun, SavedAudience
from audit.models import OperatorAction
from conversations.models import Bot, BotConnection, Conversation, SyncRun
from deletions import services, tasks
from deletions.models import DeletionJob
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from media import store
from media.models import StoredFile
from messaging.models import CardTaskId, DeliveryAttempt, Message, MessageMedia, UploadedMedia

BOT_ROWS = (
    Message,
    DeliveryAttempt,
    MessageMedia,
    WebhookDelivery,
    WebhookAttempt,
    Announcement,
    AnnouncementRun,
    SavedAudience,
    WebhookEndpoint,
    UploadedMedia,
    CardTaskId,
    SyncRun,
    Conversation,
    BotConnection,
)


def _rows_of(bot_id: int) -> dict[str, int]:
    lookups = {
        Message: "bot",
        DeliveryAttempt: "message__bot",
        MessageMedia: "message__bot",
        WebhookDelivery: "message__bot",
        WebhookAttempt: "delivery__message__bot",
        AnnouncementRun: "announcement__bot",
    }
    return {
        model.__name__: model.objects.filter(**{lookups.get(model, "bot"): bot_id}).count()
        for model in BOT_ROWS
    }


def _run_to_the_end(job: DeletionJob, max_batches: int) -> int:
    runs = 1
    while services.run_job(job.pk, max_batches=max_batches):
        runs += 1
    return runs


def test_a_bot_and_everything_it_held_are_deleted_in_batches(
    settings, make_bot, make_history, superuser
):
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 3
    doomed, kept = make_bot(name="doomed"), make_bot(name="kept")
    other = make_history(kept)
    history = make_history(doomed, shared_file=other.own_file)
    before = _rows_of(kept.pk)

    job, created = services.request_bot_deletion(doomed, superuser, via="test")

    assert created and not Bot.objects.get(pk=doomed.pk).is_active
    assert job.planned["messaging.Message"] == len(history.messages) == 10
    assert job.planned["messaging.DeliveryAttempt"] == 4
    # One batch per run: a run after each, so a long deletion is many short transactions.
    assert _run_to_the_end(job, max_batches=1) > len(history.messages) // 3
    job.refresh_from_db()
    assert job.status == DeletionJob.Status.DONE and job.finished_at is not None
    assert not Bot.objects.filter(pk=doomed.pk).exists()
    assert all(count == 0 for count in _rows_of(doomed.pk).values())
    assert job.counts["messaging.Message"] == 10
    assert job.counts["forwarding.WebhookAttempt"] == 4
    assert job.counts["conversations.Bot"] == 1
    # The other bot lost nothing, and the file it shows too stays.
    assert _rows_of(kept.pk) == before
    assert not StoredFile.objects.filter(pk=history.own_file.pk).exists()
    assert not store.media_storage().exists(history.own_file.name)
    assert not StoredFile.objects.filter(pk=history.upload_file.pk).exists()
    assert StoredFile.objects.filter(pk=other.own_file.pk).exists()
    # The audit log keeps the bot's entries, by name, and says who asked and that it was done.
    entries = OperatorAction.objects.filter(bot_label="doomed").order_by("pk")
    assert [e.action for e in entries] == ["bot.update", "bot.delete_request", "bot.delete"]
    assert all(e.bot_id is None and e.actor_label == "root" for e in entries)


def test_asking_twice_joins_the_job_under_way(make_bot, superuser):
    bot = make_bot()
    first, _ = services.request_bot_deletion(bot, superuser, via="test")
    second, created = services.request_bot_deletion(bot, superuser, via="test")
    assert second.pk == first.pk and not created
    assert DeletionJob.objects.count() == 1


def test_a_job_a_killed_worker_left_is_finished_by_the_sweepers_run(
    settings, make_bot, make_history, superuser
):
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 2
    bot = make_bot()
    make_history(bot)
    job, _ = services.request_bot_deletion(bot, superuser, via="test")
    services.run_job(job.pk, max_batches=2)  # part of it
    # …and its worker was killed in the middle of the next batch, ten minutes ago.
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    DeletionJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=ten_minutes_ago)
    assert Message.objects.filter(bot=bot).count() == 6

    assert services.abandoned_jobs() == [job.pk]
    tasks.run_deletion_job([job.pk])

    job.refresh_from_db()
    assert job.status == DeletionJob.Status.DONE
    assert job.counts["messaging.Message"] == 10  # none counted twice
    assert not Bot.objects.filter(pk=bot.pk).exists()
    assert services.abandoned_jobs() == []


def test_a_job_whose_worker_is_alive_is_left_to_it(settings, make_bot, make_history, superuser):
    bot = make_bot()
    make_history(bot)
    job, _ = services.request_bot_deletion(bot, superuser, via="test")
    DeletionJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())

    assert services.abandoned_jobs() == []
    assert services.run_job(job.pk) is False
    assert Message.objects.filter(bot=bot).count() == 10


def test_deleting_a_conversation_keeps_the_rest_of_its_bot(make_bot, make_history, superuser):
    bot = make_bot()
    history = make_history(bot)
    doomed, kept = history.conversations

    job, _ = services.request_conversation_deletion(doomed, superuser, via="test")
    assert Bot.objects.get(pk=bot.pk).is_active  # its bot goes on sending
    services.run_job(job.pk)

    assert not Conversation.objects.filter(pk=doomed.pk).exists()
    assert not Message.objects.filter(conversation_id=doomed.pk).exists()
    assert Message.objects.filter(conversation=kept).count() == 5
    assert Announcement.objects.get(bot=bot).conversations.get() == kept
    assert OperatorAction.objects.filter(action="conversation.delete").exists()


def test_a_target_deleted_meanwhile_ends_the_job(make_bot, superuser):
    bot = make_bot()
    job, _ = services.request_bot_deletion(bot, superuser, via="test")
    Bot.objects.filter(pk=bot.pk).delete()  # nothing referred to it

    assert services.run_job(job.pk) is False
    job.refresh_from_db()
    assert job.status == DeletionJob.Status.DONE


def test_the_sweeper_runs_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["resume-deletion-jobs"]
    assert entry["task"] == tasks.resume_deletion_jobs.name
    assert entry["schedule"] <= 60


def test_a_bot_activated_again_meanwhile_is_deactivated_by_the_next_run(
    settings, make_bot, make_history, superuser
):
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 2
    bot = make_bot()
    make_history(bot)
    job, _ = services.request_bot_deletion(bot, superuser, via="test")
    services.run_job(job.pk, max_batches=1)
    Bot.objects.filter(pk=bot.pk).update(is_active=True)  # an admin ticked "active"

    services.run_job(job.pk, max_batches=1)

    assert Bot.objects.get(pk=bot.pk).is_active is False


def test_a_conversation_whose_deletion_an_older_release_asked_for_is_marked_by_the_next_run(
    settings, make_bot, make_history, superuser
):
    """Jobs queued before conversations were marked: the run marks it, so the API refuses
    sends to it for the rest of the deletion."""
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 2
    conversation = make_history(make_bot()).conversations[0]
    job, _ = services.request_conversation_deletion(conversation, superuser, via="test")
    Conversation.objects.filter(pk=conversation.pk).update(deletion_requested_at=None)

    assert services.run_job(job.pk, max_batches=1) is True  # not done yet

    assert Conversation.objects.get(pk=conversation.pk).deletion_requested_at is not None
