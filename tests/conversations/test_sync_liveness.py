"""A contact sync still at work is not taken for an abandoned one, and one declared
abandoned stays so: its late worker writes nothing more.

A WeCom app reads its visible range in one page with a user/get per named member, which
can take longer than a sync may stay silent (`sync.STALE_AFTER`). The fake's answer to
user/get runs what happens elsewhere meanwhile: the simulated clock moves on, the beat
looks for abandoned runs.
"""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from conversations import sync
from conversations.models import SyncRun
from tests.connectors.wecom_app.conftest import app_api, app_bot  # noqa: F401

NAMED = ["zhangsan", "lisi", "wangwu"]


@pytest.fixture
def named_range(app_api):  # noqa: F811
    """The app's visible range names three members: one page of three user/get calls."""
    app_api.add_user("wangwu", "王五")
    app_api.visible_departments, app_api.visible_users = [], list(NAMED)
    return app_api


def on_user_get(api, meanwhile) -> None:
    """Run `meanwhile(userid)` in the fake's thread before it answers each user/get."""
    original = api.answer

    def answer(method, path, query, raw, headers):
        if path == "user/get":
            try:
                meanwhile(query.get("userid"))
            finally:
                connection.close()  # the server thread's own connection
        return original(method, path, query, raw, headers)

    api.answer = answer


def outcome() -> str:
    return SyncRun.objects.get().outcome


@pytest.mark.django_db(transaction=True)
def test_a_page_slower_than_the_abandon_time_keeps_its_run_alive(
    named_range,
    app_bot,  # noqa: F811
    settings,
):
    settings.BOTADMIN_SYNC_INTERVAL_MINUTES = 0  # only the recovery of abandoned runs
    seen = []
    with time_machine.travel(timezone.now(), tick=True) as clock:

        def two_minutes_per_member(userid):
            clock.shift(timedelta(minutes=2))
            sync.sync_due_bots()  # the beat, while the page is still being read
            seen.append(outcome())

        on_user_get(named_range, two_minutes_per_member)
        run = sync.sync_now(app_bot, SyncRun.Trigger.COMMAND)

    assert seen == [SyncRun.Outcome.RUNNING] * 3  # six minutes on one page, never abandoned
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error
    assert SyncRun.objects.count() == 1  # no second sync beside it
    assert sorted(app_bot.conversations.values_list("conversation_id", flat=True)) == sorted(NAMED)


@pytest.mark.django_db(transaction=True)
def test_a_run_declared_abandoned_stays_abandoned_and_its_late_worker_writes_nothing(
    named_range,
    app_bot,  # noqa: F811
    make_conversation,
    settings,
):
    settings.BOTADMIN_SYNC_INTERVAL_MINUTES = 0
    make_conversation(app_bot, "wrChat", name="Chat", kind="group")  # the next page's

    def declared_abandoned(userid):
        if userid == "lisi":  # the beat, long after: the worker looks gone
            sync.sync_due_bots(now=timezone.now() + sync.STALE_AFTER + timedelta(minutes=1))

    on_user_get(named_range, declared_abandoned)
    run = sync.sync_now(app_bot, SyncRun.Trigger.COMMAND)

    stored = SyncRun.objects.get()
    assert (stored.outcome, stored.error) == (SyncRun.Outcome.FAILED, sync.ABANDONED)
    assert (run.outcome, run.error) == (stored.outcome, stored.error)  # what the caller is told
    assert stored.pages_fetched == 0
    assert not app_bot.conversations.filter(kind="user").exists()  # the late page: not stored
    called = [path for path, _query, _body in named_range.requests]
    assert "appchat/get" not in called  # nor did the worker go on to the next page
