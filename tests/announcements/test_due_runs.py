"""A run that is due when something else happens: botadmin coming back after a long
downtime, an operator resuming a one-off whose time passed while it was paused, or
editing an announcement whose run is due but not started yet."""

from datetime import UTC, datetime

import time_machine
from django.urls import reverse

from announcements import operator_actions
from announcements.editing import Draft, save_announcement
from announcements.fanout import fan_out
from announcements.models import Announcement, AnnouncementRun
from announcements.tasks import tick as scheduler_tick
from messaging.models import Message


def tick() -> None:
    """The scheduler tick, then the fan-outs it enqueued, as a worker runs them."""
    scheduler_tick()
    for run in AnnouncementRun.objects.filter(status=AnnouncementRun.Status.FANNING_OUT):
        fan_out(run.pk)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(announcement) -> list[tuple[datetime, str, bool]]:
    return list(
        announcement.runs.order_by("scheduled_for").values_list(
            "scheduled_for", "status", "is_late"
        )
    )


def test_back_after_a_long_downtime_the_days_run_due_minutes_ago_still_goes_out_once(
    bot, make_groups, make_announcement, client, superuser
):
    groups = make_groups(bot, 2)
    with time_machine.travel(at(2026, 5, 4, 0, 0), tick=False) as clock:  # Mon 08:00 Shanghai
        announcement = make_announcement(bot, groups, kind="daily", schedule={"time": "18:00"})
        earlier = make_announcement(bot, groups, kind="daily", schedule={"time": "17:00"})
        # Down from Monday morning until Wednesday 18:10 Shanghai time: Monday's and
        # Tuesday's runs are long past, Wednesday's is ten minutes late (the other's,
        # at 17:00, is past the cut-off of 30 minutes too).
        clock.move_to(at(2026, 5, 6, 10, 10))
        tick()
        tick()

    announcement.refresh_from_db()
    assert runs(announcement) == [
        (at(2026, 5, 4, 10, 0), AnnouncementRun.Status.MISSED, True),
        (at(2026, 5, 5, 10, 0), AnnouncementRun.Status.MISSED, True),
        (at(2026, 5, 6, 10, 0), AnnouncementRun.Status.SENDING, True),
    ]
    wednesday = announcement.runs.get(scheduled_for=at(2026, 5, 6, 10, 0))
    assert Message.objects.filter(announcement_run=wednesday).count() == 2
    assert Message.objects.filter(announcement_run__announcement=announcement).count() == 2
    assert announcement.next_run_at == at(2026, 5, 7, 10, 0)
    earlier.refresh_from_db()
    assert runs(earlier) == [
        (at(2026, 5, 4, 9, 0), AnnouncementRun.Status.MISSED, True),
        (at(2026, 5, 5, 9, 0), AnnouncementRun.Status.MISSED, True),
        (at(2026, 5, 6, 9, 0), AnnouncementRun.Status.MISSED, True),
    ]
    assert earlier.next_run_at == at(2026, 5, 7, 9, 0)
    client.force_login(superuser)
    page = client.get(reverse("announcements:detail", args=[announcement.pk])).content.decode()
    assert "错过（botadmin 当时未运行）" in page


def test_a_one_off_resumed_after_its_time_is_sent_on_resume_not_listed_as_missed(
    bot, make_groups, make_announcement, superuser, client
):
    groups = make_groups(bot, 3)
    with time_machine.travel(at(2026, 5, 4, 0, 0), tick=False) as clock:
        announcement = make_announcement(
            bot, groups, kind="once", schedule={"at": "2026-05-04T09:00"}
        )
        operator_actions.pause(superuser, announcement)
        clock.move_to(at(2026, 5, 4, 6, 0))  # 14:00: five hours after its time
        client.force_login(superuser)
        page = client.get(reverse("announcements:detail", args=[announcement.pk]))
        assert "已暂停：恢复后立即运行" in page.content.decode()

        operator_actions.resume(superuser, announcement)
        tick()

    run = AnnouncementRun.objects.get()
    assert run.status == AnnouncementRun.Status.SENDING
    assert run.scheduled_for == at(2026, 5, 4, 6, 0)
    assert Message.objects.filter(announcement_run=run).count() == 3
    announcement.refresh_from_db()
    assert (announcement.status, announcement.next_run_at) == ("finished", None)


def edit(user, announcement, **changes) -> Announcement:
    draft = Draft(
        bot=announcement.bot,
        title=changes.pop("title", announcement.title),
        body=announcement.body,
        conversation_ids=list(announcement.conversations.values_list("pk", flat=True)),
        kind=announcement.schedule_kind,
        schedule=changes.pop("schedule", announcement.schedule),
        timezone=announcement.timezone,
    )
    return save_announcement(user, draft, as_draft=False, announcement=announcement)


def test_editing_the_text_while_its_run_is_due_sends_that_run_with_the_new_text(
    bot, make_groups, make_announcement, superuser
):
    groups = make_groups(bot, 2)
    with time_machine.travel(at(2026, 5, 4, 0, 0), tick=False) as clock:
        announcement = make_announcement(bot, groups, kind="daily", schedule={"time": "09:00"})
        moved = make_announcement(bot, groups, kind="daily", schedule={"time": "09:00"})
        # 09:00:03: the runs are due, the scheduler's tick has not started them yet.
        clock.move_to(at(2026, 5, 4, 1, 0, 3))
        edited = edit(superuser, announcement, title="Fixed typo")
        assert edited.next_run_at == at(2026, 5, 4, 1, 0)
        # The other one's time is moved: its run is the new time's.
        assert edit(superuser, moved, schedule={"time": "09:30"}).next_run_at == at(
            2026, 5, 4, 1, 30
        )
        tick()

    announcement.refresh_from_db()
    assert runs(announcement) == [(at(2026, 5, 4, 1, 0), AnnouncementRun.Status.SENDING, False)]
    assert Message.objects.filter(announcement_run__announcement=announcement).count() == 2
    assert announcement.next_run_at == at(2026, 5, 5, 1, 0)
    assert not moved.runs.exists()
