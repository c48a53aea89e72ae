"""The scheduler tick: announcements start on time, once; a run found a little late runs
marked late, one found later than the cut-off is recorded as missed and not sent."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.urls import reverse

from announcements.fanout import fan_out
from announcements.models import Announcement, AnnouncementRun
from announcements.tasks import tick as scheduler_tick
from messaging.models import Message
from messaging.tasks import release_scheduled_messages


def tick() -> None:
    """What beat and a worker do: the scheduler tick and messaging's release of scheduled
    messages, then the fan-outs the tick enqueued."""
    release_scheduled_messages()
    scheduler_tick()
    for run in AnnouncementRun.objects.filter(status=AnnouncementRun.Status.FANNING_OUT):
        fan_out(run.pk)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_one_off_announcement_fires_once_at_its_time(bot, make_groups, make_announcement):
    groups = make_groups(bot, 3)
    with time_machine.travel(at(2026, 5, 1, 0, 0), tick=False) as clock:
        announcement = make_announcement(
            bot, groups, kind="once", schedule={"at": "2026-05-01T09:00"}
        )
        assert announcement.next_run_at == at(2026, 5, 1, 1, 0)  # 09:00 in Shanghai

        clock.move_to(at(2026, 5, 1, 0, 59, 59))
        tick()
        assert not AnnouncementRun.objects.exists()

        clock.move_to(at(2026, 5, 1, 1, 0, 0))
        tick()
        tick()

    run = AnnouncementRun.objects.get()
    assert run.scheduled_for == at(2026, 5, 1, 1, 0)
    assert not run.is_late
    assert run.status == AnnouncementRun.Status.SENDING
    messages = Message.objects.filter(announcement_run=run)
    assert sorted(messages.values_list("conversation_id", flat=True)) == [g.pk for g in groups]
    assert set(messages.values_list("status", "source")) == {("queued", "announcement")}
    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.FINISHED
    assert announcement.next_run_at is None


def test_a_recurring_announcement_missed_while_down_skips_the_run_and_says_so(
    bot, make_groups, make_announcement, client, make_operator
):
    groups = make_groups(bot, 2)
    with time_machine.travel(at(2026, 5, 4, 0, 0), tick=False) as clock:  # a Monday
        announcement = make_announcement(bot, groups, kind="weekdays", schedule={"time": "18:00"})
        assert announcement.next_run_at == at(2026, 5, 4, 10, 0)

        # Down from Monday morning until Thursday 12:00 Shanghai time.
        clock.move_to(at(2026, 5, 7, 4, 0))
        tick()
        tick()

    run = AnnouncementRun.objects.order_by("scheduled_for").first()  # then Tuesday's, …
    assert run.is_late and run.status == AnnouncementRun.Status.MISSED
    assert run.scheduled_for == at(2026, 5, 4, 10, 0)
    assert not Message.objects.exists()
    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.ACTIVE
    assert announcement.next_run_at == at(2026, 5, 7, 10, 0)  # Thursday 18:00, not Tuesday
    client.force_login(make_operator("alice", bot))
    page = client.get(reverse("announcements:detail", args=[announcement.pk]))
    assert "错过（botadmin 当时未运行）" in page.content.decode()


def test_a_one_off_announcement_found_after_the_cut_off_is_marked_missed_not_sent(
    bot, make_groups, make_announcement
):
    groups = make_groups(bot, 2)
    with time_machine.travel(at(2026, 5, 1, 0, 0), tick=False) as clock:
        announcement = make_announcement(
            bot, groups, kind="once", schedule={"at": "2026-05-01T09:00"}
        )
        clock.move_to(at(2026, 5, 2, 1, 0))  # a day late
        tick()

    run = AnnouncementRun.objects.get()
    assert run.status == AnnouncementRun.Status.MISSED
    assert not Message.objects.exists()
    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.FINISHED


def test_an_announcement_a_few_minutes_late_runs_marked_late(bot, make_groups, make_announcement):
    groups = make_groups(bot, 2)
    with time_machine.travel(at(2026, 5, 1, 0, 0), tick=False) as clock:
        make_announcement(bot, groups, kind="once", schedule={"at": "2026-05-01T09:00"})
        clock.move_to(at(2026, 5, 1, 1, 10))
        tick()

    run = AnnouncementRun.objects.get()
    assert run.is_late and run.status == AnnouncementRun.Status.SENDING
    assert Message.objects.filter(announcement_run=run).count() == 2


def test_a_recurring_announcement_on_time_is_not_late_and_runs_every_occurrence(
    bot, make_groups, make_announcement
):
    groups = make_groups(bot, 1)
    with time_machine.travel(at(2026, 5, 4, 0, 0), tick=False) as clock:
        make_announcement(bot, groups, kind="daily", schedule={"time": "18:00"})
        for day in (4, 5, 6):
            clock.move_to(at(2026, 5, day, 10, 0, 2))
            tick()

    runs = AnnouncementRun.objects.order_by("scheduled_for")
    assert [r.scheduled_for.day for r in runs] == [4, 5, 6]
    assert not any(r.is_late for r in runs)


def test_an_announcement_every_15_minutes_runs_through_both_passes_of_a_repeated_hour(
    bot, make_groups, make_announcement
):
    """New York, 1 November 2026: 01:00-02:00 is 05:00-06:00 UTC, then 06:00-07:00."""
    groups = make_groups(bot, 1)
    with time_machine.travel(at(2026, 11, 1, 5, 50), tick=False) as clock:
        make_announcement(
            bot, groups, kind="cron", schedule={"cron": "*/15 * * * *"}, tz="America/New_York"
        )
        for minute in range(0, 75, 15):
            clock.move_to(at(2026, 11, 1, 6) + timedelta(minutes=minute, seconds=2))
            tick()

    runs = AnnouncementRun.objects.order_by("scheduled_for")
    assert [r.scheduled_for for r in runs] == [
        at(2026, 11, 1, 6) + timedelta(minutes=minute) for minute in range(0, 75, 15)
    ]


def test_announcement_messages_wait_for_the_end_of_the_bots_quiet_hours(
    bot, make_groups, make_announcement
):
    bot.quiet_hours_start, bot.quiet_hours_end = time(22, 0), time(8, 0)
    bot.save()
    groups = make_groups(bot, 2)
    with time_machine.travel(at(2026, 5, 4, 15, 0), tick=False) as clock:  # 23:00 Shanghai
        make_announcement(bot, groups)
        tick()
        held = Message.objects.filter(source="announcement")
        assert set(held.values_list("status", flat=True)) == {"scheduled"}
        assert set(held.values_list("scheduled_at", flat=True)) == {
            at(2026, 5, 4, 16, 0) + timedelta(hours=8)
        }

        clock.move_to(at(2026, 5, 4, 23, 59, 59))  # 07:59:59 Shanghai
        tick()
        assert set(held.values_list("status", flat=True)) == {"scheduled"}

        clock.move_to(at(2026, 5, 5, 0, 0, 0))  # 08:00 Shanghai
        tick()
        assert set(held.values_list("status", flat=True)) == {"queued"}


def test_quiet_hours_are_read_in_the_bots_own_time_zone(bot, make_groups, make_announcement):
    bot.quiet_hours_start, bot.quiet_hours_end = time(22, 0), time(8, 0)
    bot.timezone = "Europe/Berlin"  # UTC+2 in May; the server runs on Asia/Shanghai
    bot.full_clean()
    bot.save()
    groups = make_groups(bot, 1)
    with time_machine.travel(at(2026, 5, 4, 15, 0), tick=False) as clock:  # 17:00 Berlin
        make_announcement(bot, groups, title="Berlin afternoon")
        tick()
        assert (
            Message.objects.get(announcement_run__announcement__title="Berlin afternoon").status
            == "queued"
        )

        clock.move_to(at(2026, 5, 4, 21, 0))  # 23:00 Berlin, 05:00 Shanghai
        make_announcement(bot, groups, title="Berlin night")
        tick()
        held = Message.objects.get(announcement_run__announcement__title="Berlin night")
        assert held.status == "scheduled"
        assert held.scheduled_at == at(2026, 5, 5, 6, 0)  # 08:00 Berlin


def test_an_unknown_bot_time_zone_is_refused(bot):
    from django.core.exceptions import ValidationError

    bot.timezone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError, match="Mars/Olympus_Mons"):
        bot.full_clean()


def test_draft_announcements_never_run(bot, make_groups, superuser):
    from announcements.editing import Draft, save_announcement

    groups = make_groups(bot, 1)
    draft = Draft(
        bot,
        "d",
        {"msgtype": "text", "text": {"content": "x"}},
        [groups[0].pk],
        "now",
        {},
        "Asia/Shanghai",
    )
    announcement = save_announcement(superuser, draft, as_draft=True)
    tick()
    assert announcement.status == Announcement.Status.DRAFT
    assert not AnnouncementRun.objects.exists()


@pytest.mark.parametrize(
    "end, found_at, opens",
    [
        # Quiet 22:00-01:30; on 1 November 2026 01:00-02:00 happens twice. At 01:10 the second
        # time (06:10 UTC) it is still quiet until 01:30 EST (06:30 UTC); the first 01:30
        # (05:30 UTC) has passed, so the message must not go at once nor fail late.
        pytest.param(time(1, 30), at(2026, 11, 1, 6, 10), at(2026, 11, 1, 6, 30), id="fall-back"),
        # Quiet 22:00-02:30; on 8 March 2026 the clock goes from 01:59:59 EST to 03:00 EDT
        # (07:00 UTC), already past 02:30: the window is over then, not at 03:30 EDT (when
        # 02:30 EST would have been).
        pytest.param(time(2, 30), at(2026, 3, 8, 6, 30), at(2026, 3, 8, 7, 0), id="spring-forward"),
    ],
)
def test_quiet_hours_ending_at_a_wall_time_dst_repeats_or_skips_hold_until_they_end(
    bot, make_groups, make_announcement, end, found_at, opens
):
    bot.quiet_hours_start, bot.quiet_hours_end = time(22, 0), end
    bot.timezone = "America/New_York"
    bot.full_clean()
    bot.save()
    groups = make_groups(bot, 1)
    with time_machine.travel(found_at, tick=False) as clock:
        make_announcement(bot, groups)
        tick()
        held = Message.objects.get(source="announcement")
        assert (held.status, held.scheduled_at) == ("scheduled", opens)

        clock.move_to(opens - timedelta(seconds=1))
        tick()
        held.refresh_from_db()
        assert held.status == "scheduled"

        clock.move_to(opens)
        tick()
        held.refresh_from_db()
        assert held.status == "queued"


def test_quiet_hours_ending_at_a_wall_time_dst_skips_or_repeats_still_open_once(bot):
    from messaging.scheduled import quiet_until

    bot.quiet_hours_start, bot.quiet_hours_end = time(22, 0), time(1, 30)
    bot.timezone = "America/New_York"

    def quiet_until_utc(when):  # 01:30 on a fall-back day never equals a UTC time (PEP 495)
        return quiet_until(bot, when).astimezone(UTC)

    # The first 01:30 of the fall-back night, for a message at 00:50 EDT.
    assert quiet_until_utc(at(2026, 11, 1, 4, 50)) == at(2026, 11, 1, 5, 30)
    # An ordinary night.
    assert quiet_until_utc(at(2026, 11, 3, 4, 0)) == at(2026, 11, 3, 6, 30)
    # 02:30 is skipped on 8 March 2026: the clock jumps from 01:59:59 EST to 03:00 EDT.
    bot.quiet_hours_end = time(2, 30)
    assert quiet_until_utc(at(2026, 3, 8, 6, 0)) == at(2026, 3, 8, 7, 0)
    # Lord Howe Island goes from 01:59:59 +10:30 to 02:30 +11:00 on 4 October 2026.
    bot.quiet_hours_end, bot.timezone = time(2, 15), "Australia/Lord_Howe"
    assert quiet_until_utc(at(2026, 10, 3, 15, 20)) == at(2026, 10, 3, 15, 30)


def test_quiet_hours_follow_the_wall_clock_when_they_start_in_a_skipped_or_repeated_hour(bot):
    from messaging.scheduled import quiet_until

    bot.quiet_hours_start, bot.quiet_hours_end = time(2, 30), time(6, 0)
    bot.timezone = "America/New_York"

    def quiet_until_utc(when):
        opens = quiet_until(bot, when)
        return opens and opens.astimezone(UTC)

    # 8 March 2026, 02:30 skipped: not quiet at 01:59 EST, quiet from 03:00 EDT until 06:00 EDT.
    assert quiet_until_utc(at(2026, 3, 8, 6, 59)) is None
    assert quiet_until_utc(at(2026, 3, 8, 7, 0)) == at(2026, 3, 8, 10, 0)
    # On 1 November 2026 01:00-02:00 happens twice; quiet 01:30-06:00 holds from the first
    # 01:30 (05:30 UTC) until 06:00 EST (11:00 UTC) ...
    bot.quiet_hours_start = time(1, 30)
    assert quiet_until_utc(at(2026, 11, 1, 5, 29)) is None
    assert quiet_until_utc(at(2026, 11, 1, 5, 30)) == at(2026, 11, 1, 11, 0)
    # ... except in 01:00-01:30 the second time, when the clock reads before the window as on
    # any other night; from the second 01:30 it is quiet again.
    assert quiet_until_utc(at(2026, 11, 1, 6, 10)) is None
    assert quiet_until_utc(at(2026, 11, 1, 6, 30)) == at(2026, 11, 1, 11, 0)


def test_each_occurrence_missed_while_down_is_listed_as_its_own_missed_run(
    bot, make_groups, make_announcement, client, make_operator
):
    groups = make_groups(bot, 2)
    with time_machine.travel(at(2026, 5, 4, 0, 0), tick=False) as clock:  # a Monday
        announcement = make_announcement(bot, groups, kind="daily", schedule={"time": "18:00"})
        # Down from Monday morning until Thursday 12:00 Shanghai time: Monday's, Tuesday's
        # and Wednesday's 18:00 did not go.
        clock.move_to(at(2026, 5, 7, 4, 0))
        tick()
        tick()

    runs = list(AnnouncementRun.objects.order_by("scheduled_for"))
    assert [(r.scheduled_for, r.status) for r in runs] == [
        (at(2026, 5, day, 10, 0), AnnouncementRun.Status.MISSED) for day in (4, 5, 6)
    ]
    assert not Message.objects.exists()
    announcement.refresh_from_db()
    assert announcement.next_run_at == at(2026, 5, 7, 10, 0)
    client.force_login(make_operator("alice", bot))
    page = client.get(reverse("announcements:detail", args=[announcement.pk])).content.decode()
    assert page.count("错过（botadmin 当时未运行）") == 3
    for day in ("05-04 18:00", "05-05 18:00", "05-06 18:00"):
        assert day in page


def test_a_long_outage_lists_its_first_missed_occurrences_and_says_until_when_the_rest(
    bot, make_groups, make_announcement, client, make_operator, settings
):
    settings.BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES = 30
    groups = make_groups(bot, 1)
    with time_machine.travel(at(2026, 5, 4, 0, 0), tick=False) as clock:
        announcement = make_announcement(bot, groups, kind="cron", schedule={"cron": "* * * * *"})
        clock.move_to(at(2026, 5, 4, 12, 0))  # down for 12 hours: 690 missed minutes
        tick()

    missed = AnnouncementRun.objects.filter(status=AnnouncementRun.Status.MISSED)
    assert missed.count() == 200
    last = missed.order_by("-scheduled_for").first()
    assert last.scheduled_for == at(2026, 5, 4, 0, 1) + timedelta(minutes=199)
    assert (
        not AnnouncementRun.objects.exclude(pk__in=missed)
        .filter(scheduled_for__lt=at(2026, 5, 4, 11, 30))
        .exists()
    )
    client.force_login(make_operator("alice", bot))
    page = client.get(reverse("announcements:detail", args=[announcement.pk])).content.decode()
    assert "2026-05-04 19:30" in page and "Asia/Shanghai" in page
