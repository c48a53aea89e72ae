"""Pause, resume, cancel and retry do what they say, and are audited."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from announcements import operator_actions, scheduler
from announcements.fanout import fan_out
from announcements.models import Announcement, AnnouncementRun
from announcements.progress import runs_progress
from audit.models import OperatorAction
from messaging.models import Message
from messaging.scheduled import release_due_messages


def started(bot, groups, make_announcement, batches_done=None):
    announcement = make_announcement(bot, groups)
    (run_id,) = scheduler.start_due_announcements()
    if batches_done is None:
        fan_out(run_id)
    else:
        from announcements.fanout import fan_out_batch

        for _ in range(batches_done):
            fan_out_batch(run_id, 2)
    return announcement, AnnouncementRun.objects.get(pk=run_id)


def statuses(run):
    return sorted(Message.objects.filter(announcement_run=run).values_list("status", flat=True))


def test_pause_holds_pending_recipients_and_keeps_sent_ones(
    bot, make_groups, make_announcement, superuser
):
    announcement, run = started(bot, make_groups(bot, 4), make_announcement)
    first = Message.objects.filter(announcement_run=run).order_by("pk").first()
    Message.objects.filter(pk=first.pk).update(status=Message.Status.SENT)

    operator_actions.pause(superuser, announcement)

    run.refresh_from_db()
    assert run.status == AnnouncementRun.Status.PAUSED
    assert statuses(run) == ["scheduled"] * 3 + ["sent"]
    assert release_due_messages() == 0, "held messages are not due"
    assert OperatorAction.objects.filter(action="announcement.pause").count() == 1


def test_resume_releases_held_recipients(bot, make_groups, make_announcement, superuser):
    announcement, run = started(bot, make_groups(bot, 3), make_announcement)
    operator_actions.pause(superuser, announcement)

    operator_actions.resume(superuser, announcement)
    released = release_due_messages()

    run.refresh_from_db()
    assert released == 3
    assert run.status == AnnouncementRun.Status.SENDING
    assert statuses(run) == ["queued"] * 3


def test_pause_stops_a_fan_out_and_resume_finishes_it(
    bot, make_groups, make_announcement, superuser
):
    announcement, run = started(bot, make_groups(bot, 6), make_announcement, batches_done=1)
    operator_actions.pause(superuser, announcement)

    fan_out(run.pk)  # a fan-out task still in the queue does nothing while paused
    assert Message.objects.filter(announcement_run=run).count() == 2

    operator_actions.resume(superuser, announcement)
    fan_out(run.pk)
    release_due_messages()
    assert statuses(run) == ["queued"] * 6


def test_cancel_cancels_pending_recipients_and_keeps_history(
    bot, make_groups, make_announcement, superuser
):
    announcement, run = started(bot, make_groups(bot, 3), make_announcement)
    sent = Message.objects.filter(announcement_run=run).order_by("pk").first()
    Message.objects.filter(pk=sent.pk).update(status=Message.Status.SENT)

    cancelled = operator_actions.cancel(superuser, announcement)

    announcement.refresh_from_db()
    assert cancelled == 2
    assert announcement.status == Announcement.Status.CANCELLED
    assert statuses(run) == ["cancelled", "cancelled", "sent"]
    assert runs_progress([run])[run.pk]["pending"] == 0
    action = OperatorAction.objects.get(action="announcement.cancel")
    assert (action.actor, action.bot, action.target_id) == (superuser, bot, str(announcement.pk))


def test_cancelling_a_recurring_announcement_stops_future_runs(
    bot, make_groups, make_announcement, superuser
):
    announcement = make_announcement(
        bot, make_groups(bot, 1), kind="daily", schedule={"time": "09:00"}
    )
    assert announcement.next_run_at is not None

    operator_actions.cancel(superuser, announcement)

    announcement.refresh_from_db()
    assert announcement.next_run_at is None
    assert scheduler.start_due_announcements() == []


def test_retry_failed_queues_only_the_failed_recipients(
    bot, make_groups, make_announcement, superuser
):
    announcement, run = started(bot, make_groups(bot, 3), make_announcement)
    pks = list(
        Message.objects.filter(announcement_run=run).order_by("pk").values_list("pk", flat=True)
    )
    Message.objects.filter(pk=pks[0]).update(status="sent")
    Message.objects.filter(pk=pks[1]).update(status="failed", attempt_count=5, last_error="boom")

    assert operator_actions.retry_failed(superuser, run) == 1

    retried = Message.objects.get(pk=pks[1])
    assert (retried.status, retried.attempt_count, retried.last_error) == ("queued", 0, "")
    assert statuses(run) == ["queued", "queued", "sent"]


def test_retrying_one_failed_recipient_from_the_console_says_recipient(
    client, bot, make_groups, make_announcement, superuser
):
    announcement, run = started(bot, make_groups(bot, 2), make_announcement)
    failed = Message.objects.filter(announcement_run=run).order_by("pk").first()
    Message.objects.filter(pk=failed.pk).update(status="failed", attempt_count=5, last_error="boom")
    client.force_login(superuser)
    client.cookies["django_language"] = "en"

    response = client.post(
        f"/console/announcements/{announcement.pk}/retry/", {"run": run.pk}, follow=True
    )

    assert "1 failed recipient queued again." in response.content.decode()


def test_progress_counts_sent_failed_and_pending(bot, make_groups, make_announcement):
    _, run = started(bot, make_groups(bot, 4), make_announcement)
    pks = list(Message.objects.filter(announcement_run=run).values_list("pk", flat=True))
    Message.objects.filter(pk__in=pks[:2]).update(status="sent")
    Message.objects.filter(pk=pks[2]).update(status="failed")

    progress = runs_progress([run])[run.pk]

    assert (progress["sent"], progress["failed"], progress["pending"]) == (2, 1, 1)
    # Three of four are done: the bar is at 75 %, of which 50 sent and 25 failed.
    assert (progress["percent"], progress["percent_sent"], progress["percent_failed"]) == (
        75,
        50,
        25,
    )


def test_a_finished_announcement_with_everything_sent_refuses_pause_and_cancel(
    bot, make_groups, make_announcement, superuser
):
    import pytest

    announcement, run = started(bot, make_groups(bot, 2), make_announcement)
    Message.objects.filter(announcement_run=run).update(status=Message.Status.SENT)
    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.FINISHED

    with pytest.raises(operator_actions.NoLongerApplies):
        operator_actions.pause(superuser, announcement)
    with pytest.raises(operator_actions.NoLongerApplies):
        operator_actions.cancel(superuser, announcement)

    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.FINISHED
    assert not OperatorAction.objects.filter(
        action__in=["announcement.pause", "announcement.cancel"]
    )


def test_a_finished_announcement_still_sending_can_be_paused(
    bot, make_groups, make_announcement, superuser
):
    announcement, run = started(bot, make_groups(bot, 2), make_announcement)
    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.FINISHED and operator_actions.may_pause(
        announcement
    )

    operator_actions.pause(superuser, announcement)

    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.PAUSED


@pytest.mark.parametrize("paused_for", [timedelta(minutes=10), timedelta(days=3)])
def test_resuming_a_recurring_announcement_skips_the_runs_it_was_paused_over(
    bot, make_groups, make_announcement, superuser, paused_for
):
    """Paused before its 09:00 run and resumed later: that run is neither sent late nor
    listed as missed while botadmin was down; the next run is the next 09:00 after now."""
    groups = make_groups(bot, 2)
    nine = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
    with time_machine.travel(nine - timedelta(hours=1), tick=False) as clock:
        announcement = make_announcement(bot, groups, kind="daily", schedule={"time": "09:00"})
        operator_actions.pause(superuser, announcement)
        clock.move_to(nine + paused_for)
        assert scheduler.start_due_announcements() == []

        operator_actions.resume(superuser, announcement)
        assert scheduler.start_due_announcements() == []

    assert not AnnouncementRun.objects.exists()
    assert not Message.objects.exists()
    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.ACTIVE
    assert announcement.next_run_at == nine + timedelta(days=paused_for.days + 1)


def test_resuming_a_recurring_announcement_past_its_end_date_finishes_it(
    bot, make_groups, make_announcement, superuser
):
    groups = make_groups(bot, 1)
    with time_machine.travel(datetime(2026, 5, 4, 0, 0, tzinfo=UTC), tick=False) as clock:
        announcement = make_announcement(
            bot, groups, kind="daily", schedule={"time": "09:00", "until": "2026-05-05"}
        )
        operator_actions.pause(superuser, announcement)
        clock.move_to(datetime(2026, 5, 9, 0, 0, tzinfo=UTC))
        operator_actions.resume(superuser, announcement)
        assert scheduler.start_due_announcements() == []

    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.FINISHED
    assert announcement.next_run_at is None
    assert not AnnouncementRun.objects.exists()


def test_a_recipient_deleted_before_its_message_was_handed_out_is_not_pending_forever(
    bot, make_groups, make_announcement
):
    groups = make_groups(bot, 3)
    make_announcement(bot, groups)
    (run_id,) = scheduler.start_due_announcements()  # the recipients are fixed here
    groups[2].delete()  # no message yet: nothing protects it
    fan_out(run_id)
    run = AnnouncementRun.objects.get(pk=run_id)
    Message.objects.filter(announcement_run=run).update(status=Message.Status.SENT)

    progress = runs_progress([run])[run.pk]

    assert (progress["sent"], progress["pending"], progress["done"]) == (2, 0, True)
    assert (progress["skipped"], progress["planned"], progress["percent"]) == (1, 3, 100)


def test_a_finished_run_with_failures_and_a_skipped_recipient_is_at_100_percent(
    bot, make_groups, make_announcement
):
    groups = make_groups(bot, 7)
    make_announcement(bot, groups)
    (run_id,) = scheduler.start_due_announcements()
    groups[6].delete()
    fan_out(run_id)
    run = AnnouncementRun.objects.get(pk=run_id)
    pks = list(
        Message.objects.filter(announcement_run=run).order_by("pk").values_list("pk", flat=True)
    )
    Message.objects.filter(pk__in=pks[:4]).update(status=Message.Status.SENT)
    Message.objects.filter(pk=pks[4]).update(status=Message.Status.FAILED)
    Message.objects.filter(pk=pks[5]).update(status=Message.Status.UNCERTAIN)

    progress = runs_progress([run])[run.pk]

    counts = [progress[k] for k in ("sent", "failed", "cancelled", "skipped", "pending")]
    assert counts == [4, 2, 0, 1, 0] and sum(counts) == progress["planned"] == 7
    assert progress["done"] and progress["percent"] == 100
    # 4/7 = 57.1 % sent, 6/7 = 85.7 % delivered or not: the parts fill the bar exactly.
    parts = (progress["percent_sent"], progress["percent_failed"], progress["percent_other"])
    assert parts == (57, 28, 15)


def test_a_run_cancelled_during_its_hand_out_counts_the_rest_as_cancelled(
    bot, make_groups, make_announcement, superuser
):
    announcement, run = started(bot, make_groups(bot, 5), make_announcement, batches_done=1)
    first = Message.objects.filter(announcement_run=run).order_by("pk").first()
    Message.objects.filter(pk=first.pk).update(status=Message.Status.SENT)

    operator_actions.cancel(superuser, announcement)
    run.refresh_from_db()
    progress = runs_progress([run])[run.pk]

    # One sent; one handed out and cancelled; three never handed out.
    assert (progress["sent"], progress["cancelled"], progress["pending"]) == (1, 4, 0)
    assert (progress["skipped"], progress["done"], progress["percent"]) == (0, True, 100)


def test_recipients_not_handed_out_yet_are_pending(bot, make_groups, make_announcement):
    _, run = started(bot, make_groups(bot, 4), make_announcement, batches_done=1)
    Message.objects.filter(announcement_run=run).update(status=Message.Status.SENT)

    progress = runs_progress([run])[run.pk]

    assert (progress["sent"], progress["pending"], progress["done"]) == (2, 2, False)
