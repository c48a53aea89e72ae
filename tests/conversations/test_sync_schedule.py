"""When syncs run: the periodic beat entry, staggering, and recovery of lost runs."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conversations import sync, sync_requests, tasks
from conversations.models import SyncRun


def finish_all():
    SyncRun.objects.filter(outcome__in=SyncRun.ACTIVE_OUTCOMES).update(
        outcome=SyncRun.Outcome.SUCCEEDED
    )


def test_every_active_bot_is_synced_once_per_interval(make_bot, settings):
    settings.BOTADMIN_SYNC_INTERVAL_MINUTES = 10
    a, b = make_bot(), make_bot()
    make_bot(is_active=False)
    # A moment early enough in both bots' windows that one minute later is the same window.
    now = timezone.now()
    while any(now - sync.window_start(bot.pk, now, 600) > timedelta(minutes=8) for bot in (a, b)):
        now += timedelta(seconds=30)

    with time_machine.travel(now, tick=False):
        started = sync.sync_due_bots()
    assert {run.bot for run in started} == {a, b}
    assert all(run.trigger == SyncRun.Trigger.PERIODIC for run in started)
    finish_all()
    with time_machine.travel(now + timedelta(minutes=1), tick=False):
        assert sync.sync_due_bots() == []
    with time_machine.travel(now + timedelta(minutes=10), tick=False):
        assert {run.bot for run in sync.sync_due_bots()} == {a, b}


def test_a_sync_by_hand_counts_for_the_current_window(make_bot, settings):
    bot = make_bot()
    start = sync.window_start(bot.pk, timezone.now(), 600) + timedelta(seconds=10)
    with time_machine.travel(start, tick=False):
        sync.request_sync(bot, SyncRun.Trigger.ADMIN, enqueue=False)
    finish_all()
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        assert sync.sync_due_bots() == []


def test_bots_are_staggered_across_the_interval():
    now = timezone.now()
    offsets = {(now - sync.window_start(bot_id, now, 600)).seconds for bot_id in range(1, 41)}
    assert len(offsets) > 30  # 40 bots do not all hit their agents in the same second


def test_an_interval_of_zero_turns_periodic_sync_off(make_bot, settings):
    settings.BOTADMIN_SYNC_INTERVAL_MINUTES = 0
    make_bot()
    assert sync.sync_due_bots() == []


def test_an_abandoned_run_is_failed_so_the_bot_can_sync_again(make_bot):
    bot = make_bot()
    long_ago = timezone.now() - timedelta(minutes=30)
    stuck = SyncRun.objects.create(
        bot=bot,
        trigger=SyncRun.Trigger.ADMIN,
        outcome=SyncRun.Outcome.RUNNING,
        started_at=long_ago,
        heartbeat_at=long_ago,
    )
    SyncRun.objects.filter(pk=stuck.pk).update(requested_at=long_ago)
    started = sync.sync_due_bots()
    stuck.refresh_from_db()
    assert stuck.outcome == SyncRun.Outcome.FAILED and "abandoned" in stuck.error
    assert [run.bot for run in started] == [bot]


def stuck_run(bot, trigger=SyncRun.Trigger.ADMIN, changed_while_running=False) -> SyncRun:
    """A run whose worker died half-way: running, with no progress for half an hour."""
    long_ago = timezone.now() - timedelta(minutes=30)
    run = SyncRun.objects.create(
        bot=bot,
        trigger=trigger,
        outcome=SyncRun.Outcome.RUNNING,
        started_at=long_ago,
        heartbeat_at=long_ago,
        changed_while_running=changed_while_running,
    )
    SyncRun.objects.filter(pk=run.pk).update(requested_at=long_ago)
    return run


def runs_of(bot) -> list[tuple[str, str]]:
    return list(SyncRun.objects.filter(bot=bot).order_by("pk").values_list("trigger", "outcome"))


@pytest.mark.parametrize(
    ("trigger", "changed_while_running"),
    [(SyncRun.Trigger.ADMIN, True), (SyncRun.Trigger.CONTACT_CHANGE, False)],
    ids=["change-during-the-run", "run-for-a-change"],
)
def test_an_abandoned_run_that_owed_a_sync_after_a_contact_change_gets_one_follow_up(
    trigger, changed_while_running, make_bot, settings, django_capture_on_commit_callbacks
):
    settings.BOTADMIN_SYNC_INTERVAL_MINUTES = 0  # no periodic run to stand in for it
    bot = make_bot()
    stuck = stuck_run(bot, trigger, changed_while_running)

    with django_capture_on_commit_callbacks() as woken:
        sync.sync_due_bots()

    stuck.refresh_from_db()
    assert stuck.outcome == SyncRun.Outcome.FAILED and "abandoned" in stuck.error
    followed = [
        (trigger, SyncRun.Outcome.FAILED),
        (SyncRun.Trigger.CONTACT_CHANGE, SyncRun.Outcome.PENDING),
    ]
    assert runs_of(bot) == followed
    assert woken == []  # like any change: the beat hands it out once the burst is over
    sync_requests.request_sync_after_change(bot)  # a change reported meanwhile joins it
    sync.sync_due_bots()
    assert runs_of(bot) == followed


def test_an_abandoned_run_that_owed_nothing_gets_no_follow_up(make_bot, settings):
    settings.BOTADMIN_SYNC_INTERVAL_MINUTES = 0
    bot = make_bot()
    stuck_run(bot)

    sync.sync_due_bots()

    assert runs_of(bot) == [(SyncRun.Trigger.ADMIN, SyncRun.Outcome.FAILED)]


def test_a_run_for_a_change_after_an_unrelated_abandoned_run_still_gets_its_follow_up(
    make_bot, settings
):
    settings.BOTADMIN_SYNC_INTERVAL_MINUTES = 0
    bot = make_bot()
    stuck_run(bot)  # a sync by hand, abandoned: it owed nothing
    sync.sync_due_bots()
    for_a_change = stuck_run(bot, SyncRun.Trigger.CONTACT_CHANGE)
    SyncRun.objects.filter(pk=for_a_change.pk).update(
        requested_at=timezone.now() - timedelta(minutes=20)
    )

    sync.sync_due_bots()

    assert runs_of(bot)[-1] == (SyncRun.Trigger.CONTACT_CHANGE, SyncRun.Outcome.PENDING)


def test_a_follow_up_abandoned_in_turn_gets_none_so_a_crashing_sync_does_not_loop(
    make_bot, settings
):
    settings.BOTADMIN_SYNC_INTERVAL_MINUTES = 0
    bot = make_bot()
    stuck_run(bot, SyncRun.Trigger.CONTACT_CHANGE)
    sync.sync_due_bots()
    follow_up = SyncRun.objects.get(bot=bot, outcome=SyncRun.Outcome.PENDING)
    long_ago = timezone.now() - timedelta(minutes=20)
    SyncRun.objects.filter(pk=follow_up.pk).update(  # its worker dies too
        outcome=SyncRun.Outcome.RUNNING, started_at=long_ago, heartbeat_at=long_ago
    )

    sync.sync_due_bots()

    assert runs_of(bot) == [(SyncRun.Trigger.CONTACT_CHANGE, SyncRun.Outcome.FAILED)] * 2


def test_a_pending_run_whose_wake_up_was_lost_is_handed_out_again(
    make_bot, django_capture_on_commit_callbacks
):
    bot = make_bot()
    run = SyncRun.objects.create(bot=bot, trigger=SyncRun.Trigger.ADMIN)
    SyncRun.objects.filter(pk=run.pk).update(requested_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks() as callbacks:
        assert sync.sync_due_bots() == []  # the bot's pending run is joined, not duplicated
    assert len(callbacks) == 1


def test_the_beat_entry_names_the_periodic_task(settings):
    entries = [e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()]
    assert "conversations.sync_due_bots" in entries
    assert tasks.sync_due_bots.name == "conversations.sync_due_bots"


@pytest.mark.usefixtures("agent")
def test_the_run_task_carries_out_the_run_it_is_given(bridge_bot):
    run, _ = sync.request_sync(bridge_bot, SyncRun.Trigger.ADMIN, enqueue=False)
    tasks.run_sync(run.pk)
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.groups_added == 3


def test_finished_runs_older_than_30_days_are_pruned(make_bot):
    bot = make_bot()
    old = SyncRun.objects.create(bot=bot, trigger="periodic", outcome="succeeded")
    recent = SyncRun.objects.create(bot=bot, trigger="periodic", outcome="failed")
    SyncRun.objects.filter(pk=old.pk).update(requested_at=timezone.now() - timedelta(days=31))
    sync.sync_due_bots()
    assert not SyncRun.objects.filter(pk=old.pk).exists()
    assert SyncRun.objects.filter(pk=recent.pk).exists()
