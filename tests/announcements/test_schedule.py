"""Schedules: run times in the announcement's time zone, across DST, and their preview."""

from datetime import UTC, date, datetime

import pytest

from announcements.schedule import ScheduleError, parse


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs_in(schedule, start: datetime, end: datetime) -> list[datetime]:
    times, current = [], schedule.first_run(start)
    while current is not None and current < end:
        times.append(current)
        current = schedule.next_after(current)
    return times


def test_weekdays_at_18_in_shanghai_are_10_utc_on_every_working_day_of_the_month():
    schedule = parse("weekdays", {"time": "18:00"}, "Asia/Shanghai")

    times = runs_in(schedule, utc(2026, 3, 1), utc(2026, 4, 1))

    assert len(times) == 22  # March 2026 has 22 weekdays
    assert {t.astimezone(UTC).hour for t in times} == {10}
    assert all(t.weekday() < 5 for t in times)


def test_weekdays_at_18_in_berlin_stay_18_local_across_the_dst_change():
    schedule = parse("weekdays", {"time": "18:00"}, "Europe/Berlin")

    times = runs_in(schedule, utc(2026, 3, 1), utc(2026, 4, 1))

    assert len(times) == 22
    assert {t.astimezone(schedule.tz).hour for t in times} == {18}
    # DST starts on Sunday 29 March 2026: 17:00 UTC before, 16:00 UTC after.
    assert times[-3] == utc(2026, 3, 27, 17)
    assert times[-2] == utc(2026, 3, 30, 16)


def test_weekly_monthly_and_cron_rules_and_the_end_date():
    weekly = parse("weekly", {"time": "09:30", "weekdays": [0, 6]}, "Asia/Shanghai")
    assert [
        t.astimezone(weekly.tz).strftime("%a %H:%M") for t in weekly.preview(utc(2026, 3, 2))
    ] == [
        "Mon 09:30",  # 2 March 2026 is a Monday, 08:00 in Shanghai
        "Sun 09:30",
        "Mon 09:30",
        "Sun 09:30",
        "Mon 09:30",
    ]
    monthly = parse("monthly", {"time": "08:00", "month_day": 15}, "Asia/Shanghai")
    assert [t.astimezone(monthly.tz).date() for t in monthly.preview(utc(2026, 1, 20), 2)] == [
        date(2026, 2, 15),
        date(2026, 3, 15),
    ]
    cron = parse("cron", {"cron": "0 9 * * 1", "until": "2026-03-20"}, "Asia/Shanghai")
    assert len(cron.preview(utc(2026, 3, 1))) == 3  # 2, 9 and 16 March, then the end date


def test_a_wall_time_skipped_by_dst_runs_right_after_the_gap():
    schedule = parse("daily", {"time": "02:30"}, "Europe/Berlin")

    times = schedule.preview(utc(2026, 3, 28, 12), 2)

    assert times[0] == utc(2026, 3, 29, 1, 30)  # 03:30 CEST, the gap pushes it forward
    assert times[1] == utc(2026, 3, 30, 0, 30)


def test_a_wall_time_skipped_by_a_half_hour_dst_change_runs_half_an_hour_later():
    # Lord Howe Island springs forward from 02:00 to 02:30 (+10:30 to +11:00) on 4 October 2026.
    schedule = parse("daily", {"time": "02:15"}, "Australia/Lord_Howe")

    times = schedule.preview(utc(2026, 10, 2, 12), 3)

    assert times[0] == utc(2026, 10, 2, 15, 45)  # 02:15 +10:30
    assert times[1] == utc(2026, 10, 3, 15, 45)  # 02:45 +11:00, not 03:15
    assert times[2] == utc(2026, 10, 4, 15, 15)  # 02:15 +11:00


@pytest.mark.parametrize(
    "kind, spec, tz",
    [
        ("cron", {"cron": "61 * * * *"}, "Asia/Shanghai"),
        ("weekly", {"time": "09:00", "weekdays": []}, "Asia/Shanghai"),
        ("daily", {"time": "25:00"}, "Asia/Shanghai"),
        ("daily", {"time": "09:00"}, "Mars/Olympus"),
        ("monthly", {"time": "09:00", "month_day": 32}, "Asia/Shanghai"),
        ("once", {"at": "tomorrow"}, "Asia/Shanghai"),
    ],
)
def test_schedules_that_cannot_be_understood_are_refused(kind, spec, tz):
    with pytest.raises(ScheduleError):
        parse(kind, spec, tz)


def test_a_cron_no_date_matches_says_it_never_fires():
    from django.utils import translation

    with translation.override("zh-hans"), pytest.raises(ScheduleError, match="永远不会触发"):
        parse("cron", {"cron": "0 9 31 2 *"}, "Asia/Shanghai")


def test_a_one_off_time_is_read_in_the_announcements_time_zone():
    schedule = parse("once", {"at": "2026-05-01T09:00"}, "Asia/Shanghai")

    assert schedule.preview(utc(2026, 4, 1)) == [utc(2026, 5, 1, 1)]
