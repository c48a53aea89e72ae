"""Finished announcement runs older than the message retention forget their recipient
lists and keep their counts; a run that may still make messages keeps its list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from announcements import scheduler
from announcements.fanout import fan_out
from announcements.models import AnnouncementRun
from announcements.progress import runs_progress
from announcements.retention import forget_old_recipients

Status = AnnouncementRun.Status


@pytest.fixture
def run_of(make_announcement, make_groups):
    def run_of(bot, status, days_old, recipients=3, **fields):
        announcement = make_announcement(bot, make_groups(bot, 1, prefix=f"wrR{days_old}{status}"))
        started = timezone.now() - timedelta(days=days_old)
        return AnnouncementRun.objects.create(
            announcement=announcement,
            scheduled_for=started,
            started_at=started,
            status=status,
            recipient_ids=list(range(1, recipients + 1)),
            **fields,
        )

    return run_of


def test_finished_runs_past_the_message_retention_keep_only_their_counts(
    settings, make_bot, run_of
):
    settings.BOTADMIN_MESSAGE_RETENTION_DAYS = 30
    settings.BOTADMIN_RETENTION_BATCH_SIZE = 2
    bot = make_bot()
    longer = make_bot(name="long", message_retention_days=90)
    done = timezone.now() - timedelta(days=40)
    forgotten = [
        run_of(bot, Status.SENDING, 40, fanned_out_at=done),  # from before recipient_total
        run_of(bot, Status.SENDING, 50, recipients=5, fanned_out_at=done, recipient_total=5),
        run_of(bot, Status.CANCELLED, 45),
        run_of(bot, Status.MISSED, 60, recipients=0),
    ]
    kept = [
        run_of(bot, Status.SENDING, 20, fanned_out_at=timezone.now()),  # recent
        run_of(bot, Status.FANNING_OUT, 40),  # still making messages
        run_of(bot, Status.PAUSED, 40),  # may be resumed
        run_of(bot, Status.FAILED, 40),  # may be retried
        run_of(longer, Status.SENDING, 60, fanned_out_at=done),  # its bot keeps 90 days
    ]

    assert forget_old_recipients() == 3  # the missed one has no list to forget

    for run, count in zip(forgotten, [3, 5, 3, 0], strict=True):
        run.refresh_from_db()
        assert (run.recipient_ids, run.recipient_count) == ([], count)
    for run in kept:
        run.refresh_from_db()
        assert run.recipient_ids == [1, 2, 3] and run.recipient_count == 3


def test_without_a_message_retention_every_list_is_kept(settings, make_bot, run_of):
    settings.BOTADMIN_MESSAGE_RETENTION_DAYS = None
    run = run_of(make_bot(), Status.CANCELLED, 3000)

    assert forget_old_recipients() == 0
    run.refresh_from_db()
    assert run.recipient_ids == [1, 2, 3]


def test_a_forgotten_run_still_shows_its_planned_count(
    settings, make_bot, make_groups, make_announcement
):
    settings.BOTADMIN_MESSAGE_RETENTION_DAYS = 30
    bot = make_bot()
    make_announcement(bot, make_groups(bot, 4))
    [run_id] = scheduler.start_due_announcements()
    fan_out(run_id)
    run = AnnouncementRun.objects.get(pk=run_id)
    assert run.recipient_total == 4
    AnnouncementRun.objects.filter(pk=run_id).update(started_at=run.started_at - timedelta(days=31))

    assert forget_old_recipients() == 1

    run = AnnouncementRun.objects.get(pk=run_id)
    assert run.recipient_ids == [] and runs_progress([run])[run.pk]["planned"] == 4


def test_the_lists_are_forgotten_every_night(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["forget-old-run-recipients"]
    assert entry["task"] == "announcements.forget_old_recipients"
    assert entry["schedule"].hour == {3}
