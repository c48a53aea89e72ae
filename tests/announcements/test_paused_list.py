"""The announcement list says of a paused announcement that it is paused, and when it
runs next once resumed, as its own page does: it showed the next run it had when paused,
an hour already gone by, as if it were still to come."""

import re
from datetime import timedelta

import pytest
import time_machine

from announcements import operator_actions
from announcements.models import Announcement
from tests.announcements.test_finished_runs import T0, hourly_runs

LIST = "/console/announcements/"


def next_run_cell(response, announcement) -> str:
    """The "Next run" column of the announcement's row, as read (without tags)."""
    row = response.content.decode().split(f'href="{LIST}{announcement.pk}/"')[1].split("</tr>")[0]
    cell = row.split('<td class="nowrap next-run">')[1].split("</td>")[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "paused once resumed: 12:00 Asia/Shanghai"),
        ("zh-hans", "已暂停 恢复后：12:00 Asia/Shanghai"),
    ],
)
def test_a_paused_recurring_announcement_says_paused_and_its_next_run_once_resumed(
    bot, make_groups, make_announcement, client, superuser, language, said
):
    announcement, _runs = hourly_runs(bot, make_groups(bot, 2), make_announcement, 1)
    operator_actions.pause(superuser, announcement)
    client.force_login(superuser)
    client.cookies["django_language"] = language

    # Two occurrences (10:00 and 11:00 in Shanghai) pass while it is paused.
    with time_machine.travel(T0 + timedelta(hours=2, minutes=30), tick=False):
        response = client.get(LIST)

    assert Announcement.objects.get(pk=announcement.pk).status == "paused"
    assert next_run_cell(response, announcement) == said


def test_a_paused_announcement_left_without_runs_says_paused_alone(
    bot, make_groups, make_announcement, client, superuser
):
    """Once its last occurrence has gone by, resuming sends what it holds and no run
    follows (scheduler.next_run_once_resumed)."""
    announcement, _runs = hourly_runs(bot, make_groups(bot, 1), make_announcement, 1)
    operator_actions.pause(superuser, announcement)
    Announcement.objects.filter(pk=announcement.pk).update(next_run_at=None)
    client.force_login(superuser)
    client.cookies["django_language"] = "zh-hans"

    response = client.get(LIST)

    assert next_run_cell(response, announcement) == "已暂停"


def test_an_active_announcement_still_shows_its_next_run(
    bot, make_groups, make_announcement, client, superuser
):
    announcement, _runs = hourly_runs(bot, make_groups(bot, 1), make_announcement, 1)
    client.force_login(superuser)

    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        response = client.get(LIST)

    assert (
        next_run_cell(response, announcement) == "10:00 Asia/Shanghai"
    )  # within a day: its time alone
