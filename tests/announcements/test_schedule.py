"""Schedules: run times in the announcement's time zone, across DST, and their preview."""

from datetime import UTC, date, datetime, timedelta

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


def test_a_monthly_day_31_runs_only_in_the_months_that_have_a_31st():
    """Day N means that date: February, April, June, September and November have no
    31st, so a schedule on day 31 has no run in them (the compose page says which)."""
    schedule = parse("monthly", {"time": "09:00", "month_day": 31}, "Asia/Shanghai")

    times = schedule.preview(utc(2026, 1, 5), 6)

    assert [t.astimezone(schedule.tz).date() for t in times] == [
        date(2026, 1, 31),
        date(2026, 3, 31),
        date(2026, 5, 31),
        date(2026, 7, 31),
        date(2026, 8, 31),
        date(2026, 10, 31),
    ]


def local_dates(schedule, times) -> list[date]:
    return [t.astimezone(schedule.tz).date() for t in times]


def test_a_monthly_day_29_skips_february_only_in_a_common_year():
    schedule = parse("monthly", {"time": "09:00", "month_day": 29}, "Asia/Shanghai")

    times = schedule.preview(utc(2027, 1, 30), 3)

    assert local_dates(schedule, times) == [date(2027, 3, 29), date(2027, 4, 29), date(2027, 5, 29)]
    assert local_dates(schedule, schedule.preview(utc(2028, 1, 30), 1)) == [date(2028, 2, 29)]
    assert schedule.skipped_months(utc(2027, 1, 30)) == [date(2027, 2, 1)]
    assert schedule.skipped_months(utc(2028, 1, 30)) == []  # 2028 is a leap year


def test_the_months_a_day_31_skips_are_named_for_the_next_twelve_months_up_to_the_end():
    schedule = parse("monthly", {"time": "09:00", "month_day": 31}, "Asia/Shanghai")
    ending = parse(
        "monthly", {"time": "09:00", "month_day": 31, "until": "2026-06-30"}, "Asia/Shanghai"
    )
    day_15 = parse("monthly", {"time": "09:00", "month_day": 15}, "Asia/Shanghai")
    last = parse("monthly", {"time": "09:00", "month_day": "last"}, "Asia/Shanghai")

    # 10:00 on 30 April in Shanghai: April has no 31st, so it is the first one skipped.
    assert schedule.skipped_months(utc(2026, 4, 30, 2)) == [
        date(2026, 4, 1),
        date(2026, 6, 1),
        date(2026, 9, 1),
        date(2026, 11, 1),
        date(2027, 2, 1),
    ]
    # The 31st of June would come after the end date (30 June), so June is not "skipped".
    assert ending.skipped_months(utc(2026, 4, 30, 2)) == [date(2026, 4, 1)]
    assert day_15.skipped_months(utc(2026, 4, 30, 2)) == []
    assert last.skipped_months(utc(2026, 4, 30, 2)) == []


def test_a_monthly_schedule_on_the_last_day_runs_at_the_end_of_every_month():
    schedule = parse("monthly", {"time": "09:00", "month_day": "last"}, "Asia/Shanghai")

    common_year = schedule.preview(utc(2027, 1, 5), 5)
    leap_year = schedule.preview(utc(2028, 1, 31, 2), 3)  # 10:00 on 31 January: it has run

    assert local_dates(schedule, common_year) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
    ]
    assert local_dates(schedule, leap_year) == [
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
    ]
    assert {t.astimezone(UTC).hour for t in common_year + leap_year} == {1}  # 09:00 +08:00


def test_the_last_day_of_the_month_at_a_time_a_dst_change_skips_or_repeats_runs_once():
    """In Berlin the clocks go forward on Sunday 31 March 2030 (02:00 to 03:00) and back on
    Sunday 31 October 2027 (03:00 to 02:00): 02:30 on those days is missing, then twice."""
    schedule = parse("monthly", {"time": "02:30", "month_day": "last"}, "Europe/Berlin")

    spring = [t.astimezone(UTC) for t in schedule.preview(utc(2030, 2, 1), 3)]
    autumn = [t.astimezone(UTC) for t in schedule.preview(utc(2027, 9, 1), 3)]

    assert spring == [
        utc(2030, 2, 28, 1, 30),  # 02:30 CET
        utc(2030, 3, 31, 1, 30),  # 03:30 CEST: moved on by the gap
        utc(2030, 4, 30, 0, 30),  # 02:30 CEST
    ]
    assert autumn == [
        utc(2027, 9, 30, 0, 30),  # 02:30 CEST
        utc(2027, 10, 31, 0, 30),  # the first 02:30, CEST; not again an hour later
        utc(2027, 11, 30, 1, 30),  # 02:30 CET
    ]


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


def every(step: timedelta, start: datetime, end: datetime) -> list[datetime]:
    return [start + step * i for i in range((end - start) // step)]


@pytest.mark.parametrize(
    "cron, step",
    [("*/15 * * * *", timedelta(minutes=15)), ("0,30 * * * *", timedelta(minutes=30))],
)
@pytest.mark.parametrize(
    "tz, start",
    [
        # 1 November 2026: 01:00-02:00 happens twice (EDT, then EST).
        ("America/New_York", utc(2026, 11, 1, 4)),
        # 8 March 2026: 02:00-03:00 never happens.
        ("America/New_York", utc(2026, 3, 8, 5)),
        # 5 April 2026: 01:30-02:00 happens twice (+11:00, then +10:30).
        ("Australia/Lord_Howe", utc(2026, 4, 4, 14)),
    ],
)
def test_a_schedule_more_often_than_hourly_keeps_its_pace_through_dst_changes(
    cron, step, tz, start
):
    schedule = parse("cron", {"cron": cron}, tz)

    times = runs_in(schedule, start, start + timedelta(hours=4))

    assert [t.astimezone(UTC) for t in times] == every(
        step, start + step, start + timedelta(hours=4)
    )


def test_a_schedule_more_often_than_hourly_runs_in_both_passes_of_the_repeated_hour():
    """In New York 01:00-02:00 on 1 November 2026 is 05:00-06:00 UTC, then 06:00-07:00."""
    schedule = parse("cron", {"cron": "*/15 * * * *"}, "America/New_York")

    first_pass = schedule.preview(utc(2026, 11, 1, 5, 20), 4)
    second_pass = schedule.preview(utc(2026, 11, 1, 6, 5), 2)

    assert [t.astimezone(UTC) for t in first_pass] == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 1, 5, 45),
        utc(2026, 11, 1, 6, 0),  # 01:00 again
        utc(2026, 11, 1, 6, 15),
    ]
    assert [(t.hour, t.minute, t.utcoffset().total_seconds() / 3600) for t in first_pass] == [
        (1, 30, -4),
        (1, 45, -4),
        (1, 0, -5),
        (1, 15, -5),
    ]
    assert [t.astimezone(UTC) for t in second_pass] == [
        utc(2026, 11, 1, 6, 15),
        utc(2026, 11, 1, 6, 30),
    ]


@pytest.mark.parametrize(
    "kind, spec, first_pass",
    [
        ("daily", {"time": "01:30"}, [utc(2026, 11, 1, 5, 30)]),
        ("cron", {"cron": "0 * * * *"}, [utc(2026, 11, 1, 5)]),  # hourly
    ],
)
def test_a_schedule_hourly_or_slower_runs_once_in_the_repeated_hour_the_first_time(
    kind, spec, first_pass
):
    schedule = parse(kind, spec, "America/New_York")

    times = runs_in(schedule, utc(2026, 11, 1, 4, 59), utc(2026, 11, 1, 7))  # to 02:00 EST

    assert [t.astimezone(UTC) for t in times] == first_pass


@pytest.mark.parametrize(
    "kind, spec, tz",
    [
        ("cron", {"cron": "61 * * * *"}, "Asia/Shanghai"),
        ("weekly", {"time": "09:00", "weekdays": []}, "Asia/Shanghai"),
        ("daily", {"time": "25:00"}, "Asia/Shanghai"),
        ("daily", {"time": "09:00"}, "Mars/Olympus"),
        ("monthly", {"time": "09:00", "month_day": 32}, "Asia/Shanghai"),
        ("monthly", {"time": "09:00", "month_day": 0}, "Asia/Shanghai"),
        ("monthly", {"time": "09:00", "month_day": "first"}, "Asia/Shanghai"),
        ("monthly", {"time": "09:00"}, "Asia/Shanghai"),
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
