"""How the console says a time (messaging.status_labels.clock_time): without its date only
when it falls on the reader's today, "明天 09:30" / "09:30 tomorrow" and "昨天 18:00" /
"18:00 yesterday" on the days beside it, "12-09 09:30" further off this year and
"2027-01-05 09:30" in another year; with its seconds within the hour unless it is on a
whole minute. The day is the reader's (TIME_ZONE, or the active time zone), not the
machine's: the server's clock runs in UTC."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone, translation

from messaging.status_labels import clock_time

SHANGHAI = ZoneInfo("Asia/Shanghai")


def shanghai(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _reader_in_shanghai(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    with timezone.override("Asia/Shanghai"):
        yield


@pytest.mark.parametrize(
    ("moment", "zh", "en"),
    [
        (shanghai(2026, 12, 7, 9, 0), "09:00", "09:00"),
        (shanghai(2026, 12, 7, 23, 59), "23:59", "23:59"),
        (shanghai(2026, 12, 8, 9, 30), "明天 09:30", "09:30 tomorrow"),
        (shanghai(2026, 12, 8, 0, 0), "明天 00:00", "00:00 tomorrow"),
        (shanghai(2026, 12, 6, 18, 0), "昨天 18:00", "18:00 yesterday"),
        (shanghai(2026, 12, 9, 9, 30), "12-09 09:30", "12-09 09:30"),
        (shanghai(2026, 12, 1, 8, 0), "12-01 08:00", "12-01 08:00"),
        (shanghai(2027, 1, 5, 9, 30), "2027-01-05 09:30", "2027-01-05 09:30"),
        (shanghai(2025, 12, 31, 23, 0), "2025-12-31 23:00", "2025-12-31 23:00"),
    ],
)
def test_a_time_says_its_day_unless_it_is_today(moment, zh, en):
    now = shanghai(2026, 12, 7, 17, 15)

    with translation.override("zh-hans"):
        assert clock_time(moment, now) == zh
    with translation.override("en"):
        assert clock_time(moment, now) == en


def test_at_1715_a_daily_runs_next_0930_is_tomorrows_and_yesterdays_1800_is_yesterdays():
    """Both are under a day from now: the old rule showed them as bare "09:30" and "18:00"."""
    now = shanghai(2026, 12, 7, 17, 15)

    assert clock_time(shanghai(2026, 12, 8, 9, 30), now) == "明天 09:30"
    assert clock_time(shanghai(2026, 12, 6, 18, 0), now) == "昨天 18:00"


def test_the_day_turns_at_the_readers_midnight_not_the_utc_machines():
    """At 23:50 in Shanghai (15:50 UTC on the machine), 00:10 is tomorrow; ten minutes
    after midnight in Shanghai (16:10 UTC, still the 7th in UTC), 23:50 is yesterday."""
    before_midnight = datetime(2026, 12, 7, 15, 50, tzinfo=UTC)  # 23:50 in Shanghai
    after_midnight = datetime(2026, 12, 7, 16, 10, tzinfo=UTC)  # 12-08 00:10 in Shanghai

    with translation.override("zh-hans"):
        assert clock_time(shanghai(2026, 12, 8, 0, 10), before_midnight) == "明天 00:10"
        assert clock_time(shanghai(2026, 12, 7, 23, 0), before_midnight) == "23:00"
        assert clock_time(shanghai(2026, 12, 7, 23, 50), after_midnight) == "昨天 23:50"
        assert clock_time(shanghai(2026, 12, 8, 9, 0), after_midnight) == "09:00"
        # A UTC moment of the 7th that is already the 8th in Shanghai is today's then.
        assert clock_time(datetime(2026, 12, 7, 17, 0, tzinfo=UTC), after_midnight) == "01:00"


def test_the_new_years_eve_reader_sees_next_years_morning_as_tomorrow():
    now = shanghai(2026, 12, 31, 22, 0)

    assert clock_time(shanghai(2027, 1, 1, 8, 0), now) == "明天 08:00"
    assert clock_time(shanghai(2027, 1, 2, 8, 0), now) == "2027-01-02 08:00"


def test_the_active_time_zone_decides_the_day(settings):
    """A page drawn in another zone (an announcement's, a bot's) says that zone's day."""
    now = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)  # 04:00 on the 8th in Shanghai

    with timezone.override("America/New_York"):  # 15:00 on the 7th in New York
        assert clock_time(datetime(2026, 12, 8, 1, 0, tzinfo=UTC), now) == "20:00"
    assert clock_time(datetime(2026, 12, 8, 1, 0, tzinfo=UTC), now) == "09:00"
    assert clock_time(datetime(2026, 12, 7, 14, 0, tzinfo=UTC), now) == "昨天 22:00"


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (shanghai(2026, 12, 7, 23, 59, 27), "23:59:27"),
        (shanghai(2026, 12, 8, 0, 0, 27), "明天 00:00:27"),
        (shanghai(2026, 12, 8, 0, 1), "明天 00:01"),  # on a whole minute
        (shanghai(2026, 12, 8, 1, 0, 27), "明天 01:00"),  # beyond the hour
    ],
)
def test_a_time_within_the_hour_keeps_its_seconds_on_any_day(moment, shown):
    now = shanghai(2026, 12, 7, 23, 59, 5)

    with translation.override("zh-hans"):
        assert clock_time(moment, now) == shown
