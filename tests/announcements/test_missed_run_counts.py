"""A run missed while botadmin was down never started: its page and the list show its
badge and time, and say nothing was sent, not "0 sent · 0 failed · 0 pending of 0"."""

import re
from datetime import UTC, datetime

import time_machine
from django.urls import reverse

from announcements import scheduler


def test_a_missed_run_says_nothing_was_sent_instead_of_empty_counts(
    bot, make_groups, make_announcement, client, make_operator
):
    groups = make_groups(bot, 2)
    with time_machine.travel(datetime(2026, 5, 4, 0, 0, tzinfo=UTC), tick=False) as clock:
        announcement = make_announcement(bot, groups, kind="daily", schedule={"time": "18:00"})
        clock.move_to(datetime(2026, 5, 5, 4, 0, tzinfo=UTC))  # down on Monday evening
        scheduler.start_due_announcements()
    client.force_login(make_operator("alice", bot))
    detail = reverse("announcements:detail", args=[announcement.pk])
    listed = reverse("announcements:list")

    chinese = client.get(detail).content.decode()
    assert "错过（botadmin 当时未运行）" in chinese and "05-04 18:00" in chinese
    assert "此次未发送任何消息。" in chinese
    assert "0 已发送" not in chinese and "待发送，共" not in chinese
    assert 'role="progressbar"' not in chinese
    assert ">延迟<" not in chinese  # it never started, late or not
    in_list = client.get(listed).content.decode()
    assert "此次未发送任何消息。" in in_list and "0 已发送" not in in_list
    assert 'class="badge run-missed"' in in_list

    client.cookies["django_language"] = "en"
    english = client.get(detail).content.decode()
    assert "Missed (botadmin was down)" in english
    assert "Nothing was sent for this time." in english
    assert not re.search(r"\b0 sent\b|pending of 0", english)
    in_list = client.get(listed).content.decode()
    assert "Nothing was sent for this time." in in_list and "0 sent" not in in_list
