"""An announcement's page costs the same queries whatever the number of its runs and of
their recipients (bench/history.py --run-page times it at 100,000): each run's counts come
grouped from msg_run_status_idx, read alone, and its total from `recipient_total`; no
query reads a run's list of recipients."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from announcements.models import Announcement
from announcements.progress import runs_progress
from messaging.models import Message
from tests.announcements.test_finished_runs import T0, hourly_runs
from tests.counted_queries import get_counting_queries
from tests.query_plans import explain

PAGES = ["", "?partial=runs", "?recipients=failed"]


def part_way(bot, make_groups, make_announcement, *, groups: int, runs: int, prefix: str):
    """An hourly announcement's `runs` runs to `groups` groups, its newest sending: its first
    recipient sent, the second failed, the third queued to retry later, the rest queued."""
    announcement, made = hourly_runs(
        bot, make_groups(bot, groups, prefix=prefix), make_announcement, runs
    )
    first, second, third = Message.objects.filter(announcement_run=made[-1]).order_by(
        "conversation"
    )[:3]
    Message.objects.filter(pk=first.pk).update(status="sent", sent_at=timezone.now())
    Message.objects.filter(pk=second.pk).update(status="failed", attempt_count=1)
    Message.objects.filter(pk=third.pk).update(
        attempt_count=1, next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    return announcement, made


@pytest.fixture
def small_and_large(make_bot, make_groups, make_announcement, superuser, client):
    """21 runs to 150 groups each (two pages of runs, two pages of the newest run's
    recipients); one run to 3 groups, made at the same times as the first of those."""
    large, runs = part_way(
        make_bot(), make_groups, make_announcement, groups=150, runs=21, prefix="l"
    )
    # Not due while the scheduler starts the small one's run (it would start both).
    Announcement.objects.filter(pk=large.pk).update(next_run_at=T0 + timedelta(days=365))
    small, _ = part_way(make_bot(), make_groups, make_announcement, groups=3, runs=1, prefix="s")
    client.force_login(superuser)
    client.cookies["django_language"] = "en"
    return small, large, runs


@pytest.mark.parametrize("query", PAGES)
def test_the_run_page_costs_the_same_queries_at_21_runs_of_150_as_at_one_run_of_3(
    small_and_large, client, query
):
    small, large, _runs = small_and_large

    few = get_counting_queries(client, f"/console/announcements/{small.pk}/{query}")
    many = get_counting_queries(client, f"/console/announcements/{large.pk}/{query}")

    page = many.response.content.decode()
    assert "1 sent · 1 failed" in page and "1 waiting until" in page
    if query != "?recipients=failed":
        assert "150 recipients" in page  # the pager's, from the run's total
    assert few.response.status_code == many.response.status_code == 200
    assert len(many) == len(few)
    assert not [q["sql"] for q in many if "recipient_ids" in q["sql"]]


def test_the_counts_of_a_page_of_runs_are_read_from_the_run_status_index_alone(small_and_large):
    """The query that reads every message of the runs reads no row of the table; the other
    one reads only their messages waiting for a later attempt (a range of an index)."""
    _small, _large, runs = small_and_large
    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        progress = runs_progress(runs)

    assert progress[runs[-1].pk]["waiting"] == 1 and progress[runs[-1].pk]["sent"] == 1
    (grouped, params), _waiting = seen
    assert "GROUP BY" in grouped
    if connection.vendor == "sqlite":
        plan = explain(grouped, params)
        assert "USING COVERING INDEX msg_run_status_idx" in plan, plan
        return
    # A new table's pages are not all-visible yet, so a bitmap scan of the index is cheaper
    # here; without it, the plan shows whether the index holds every column the query reads.
    with connection.cursor() as cursor:
        cursor.execute("SET enable_bitmapscan = off")
    try:
        plan = explain(grouped, params)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_bitmapscan")
    assert "Index Only Scan using msg_run_status_idx" in plan, plan
