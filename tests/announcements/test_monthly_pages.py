"""A monthly day on the console: the compose form keeps it, the previews say which months a
day 29-31 skips and offer the last day of the month instead."""

from datetime import UTC, datetime

import pytest
import time_machine

from announcements.models import Announcement
from tests.announcement_posts import post_confirmed
from tests.html_forms import submitted_form

from .test_console_pages import compose_post

PREVIEW = "/console/announcements/schedule-preview/"
# 10:00 on 30 April 2026 in Shanghai: April has no 31st.
APRIL_30 = datetime(2026, 4, 30, 2, 0, tzinfo=UTC)


def test_a_monthly_announcement_on_the_last_day_is_saved_shown_and_saved_again(
    client, bot, make_groups, superuser
):
    groups = make_groups(bot, 1)
    with time_machine.travel(datetime(2027, 1, 5, tzinfo=UTC), tick=False):
        client.force_login(superuser)
        post_confirmed(
            client,
            "/console/announcements/new/",
            compose_post(bot, groups, kind="monthly", time="09:00", month_day="last", at=""),
        )
        announcement = Announcement.objects.get()
        edit_url = f"/console/announcements/{announcement.pk}/edit/"
        shown = submitted_form(client.get(edit_url).content.decode(), "compose")
        post_confirmed(client, edit_url, {**shown, "schedule": "1"})
        unchanged = Announcement.objects.get()
        post_confirmed(client, edit_url, {**shown, "month_day": "31", "schedule": "1"})
        numbered = Announcement.objects.get()
        shown_again = submitted_form(client.get(edit_url).content.decode(), "compose")

    assert announcement.schedule == {"time": "09:00", "month_day": "last"}
    assert announcement.next_run_at == datetime(2027, 1, 31, 1, 0, tzinfo=UTC)
    assert shown["kind"] == ["monthly"] and shown["month_day"] == ["last"]
    assert unchanged.schedule == announcement.schedule
    assert numbered.schedule == {"time": "09:00", "month_day": 31}  # a number, as before
    assert shown_again["month_day"] == ["31"]


def test_the_compose_page_offers_the_last_day_in_the_operators_language(client, bot, superuser):
    client.force_login(superuser)

    chinese = client.get("/console/announcements/new/").content.decode()
    client.cookies["django_language"] = "en"
    english = client.get("/console/announcements/new/").content.decode()

    assert '<option value="last">每月最后一天</option>' in chinese
    assert "改为每月最后一天运行" in chinese
    assert '<option value="last">Last day of the month</option>' in english
    assert "Run on the last day instead" in english


def test_the_schedule_preview_names_the_months_a_day_31_skips(client, superuser):
    query = {"kind": "monthly", "time": "09:00", "month_day": "31", "timezone": "Asia/Shanghai"}

    with time_machine.travel(APRIL_30, tick=False):
        client.force_login(superuser)
        chinese = client.get(PREVIEW, query).json()
        client.cookies["django_language"] = "en"
        english = client.get(PREVIEW, query).json()

    assert chinese["times"] == [
        "2026-05-31 周日 09:00",
        "2026-07-31 周五 09:00",
        "2026-08-31 周一 09:00",
        "2026-10-31 周六 09:00",
        "2026-12-31 周四 09:00",
    ]
    assert chinese["skipped_months"] == (
        "并非每个月都有 31 日：2026年4月，2026年6月，2026年9月，2026年11月 和 2027年2月 "
        "不会运行。选择“每月最后一天”即可在每个月的最后一天运行。"
    )
    assert english["skipped_months"] == (
        "Day 31 is missing from some months: no run in April 2026, June 2026, September 2026, "
        "November 2026 and February 2027. Choose “Last day of the month” to run at the end "
        "of every month."
    )


def test_the_schedule_preview_of_the_last_day_runs_every_month_and_warns_of_nothing(
    client, superuser
):
    with time_machine.travel(datetime(2028, 1, 31, 2, 0, tzinfo=UTC), tick=False):
        client.force_login(superuser)
        last_day = client.get(
            PREVIEW, {"kind": "monthly", "time": "09:00", "month_day": "last"}
        ).json()
        day_15 = client.get(PREVIEW, {"kind": "monthly", "time": "09:00", "month_day": "15"})

    assert last_day["times"] == [
        "2028-02-29 周二 09:00",  # a leap year
        "2028-03-31 周五 09:00",
        "2028-04-30 周日 09:00",
        "2028-05-31 周三 09:00",
        "2028-06-30 周五 09:00",
    ]
    assert last_day["skipped_months"] == "" and day_15.json()["skipped_months"] == ""


def test_an_existing_announcement_on_day_30_says_on_its_page_which_months_it_skips(
    client, bot, make_groups, make_announcement, superuser
):
    """Rows saved before the last day existed keep their day; their page now says what it costs."""
    with time_machine.travel(datetime(2027, 1, 5, tzinfo=UTC), tick=False):
        client.force_login(superuser)
        announcement = make_announcement(
            bot,
            make_groups(bot, 1),
            kind="monthly",
            schedule={"time": "09:00", "month_day": 30, "until": "2027-06-30"},
        )
        detail = client.get(f"/console/announcements/{announcement.pk}/").content.decode()

    assert "<li>2027-01-30 周六 09:00</li><li>2027-03-30 周二 09:00</li>" in detail
    assert "并非每个月都有 30 日：2027年2月 不会运行。" in detail


@pytest.mark.parametrize(
    ("kind", "schedule", "chinese", "english"),
    [
        (
            "monthly",
            {"time": "09:30", "month_day": "last"},
            "每月最后一天 09:30",
            "Monthly on the last day at 09:30",
        ),
        (
            "monthly",
            {"time": "08:00", "month_day": 15},
            "每月 15 日 08:00",
            "Monthly on day 15 at 08:00",
        ),
        (
            "weekly",
            {"time": "18:00", "weekdays": [2, 0]},
            "每周一、周三 18:00",
            "Weekly on Mon, Wed at 18:00",
        ),
        # A one-off: its date and time in its zone, not the kind's name ("指定日期和时间").
        (
            "once",
            {"at": "2030-12-06T05:19"},
            "2030-12-06 05:19（一次）",
            "2030-12-06 05:19 (once)",
        ),
        (
            "daily",
            {"time": "07:05", "until": "2027-06-30"},
            "每天 07:05，截至 2027-06-30",
            "Every day at 07:05, until 2027-06-30",
        ),
    ],
)
def test_the_list_and_the_announcement_say_when_it_runs_in_words(
    client, bot, make_groups, make_announcement, superuser, kind, schedule, chinese, english
):
    announcement = make_announcement(bot, make_groups(bot, 1), kind=kind, schedule=schedule)
    client.force_login(superuser)
    detail = f"/console/announcements/{announcement.pk}/"

    pages_in_chinese = [client.get(p).content.decode() for p in ("/console/announcements/", detail)]
    client.cookies["django_language"] = "en"
    pages_in_english = [client.get(p).content.decode() for p in ("/console/announcements/", detail)]

    assert all(chinese in page for page in pages_in_chinese)
    assert all(english in page for page in pages_in_english)
