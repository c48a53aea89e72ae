"""A run whose messages are all finished is finished: cancelling or pausing its recurring
announcement stops only the runs that still have something to send."""

import importlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from announcements import operator_actions, scheduler
from announcements.fanout import fan_out
from announcements.models import Announcement, AnnouncementRun
from announcements.progress import runs_progress
from conversations.demo import DEMO_GROUPS
from messaging.delivery import deliver
from messaging.models import Message
from messaging.scheduled import release_due_messages
from tests.connectors.conftest import agent, bridge_bot  # noqa: F401  (the fake agent)

T0 = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)
HOURLY = {"cron": "0 * * * *"}


def hourly_runs(bot, groups, make_announcement, count: int):
    """A recurring announcement that has run `count` times (handed out, nothing sent)."""
    with time_machine.travel(T0 - timedelta(minutes=30), tick=False) as clock:
        announcement = make_announcement(bot, groups, kind="cron", schedule=HOURLY)
        for hour in range(count):
            clock.move_to(T0 + timedelta(hours=hour))
            (run_id,) = scheduler.start_due_announcements()
            fan_out(run_id)
    runs = list(AnnouncementRun.objects.filter(announcement=announcement).order_by("pk"))
    return announcement, runs


def set_statuses(run, *statuses):
    """The run's messages, in recipient order, take these statuses."""
    for message, status in zip(
        Message.objects.filter(announcement_run=run).order_by("conversation"), statuses, strict=True
    ):
        Message.objects.filter(pk=message.pk).update(status=status)


def statuses(run):
    return list(
        Message.objects.filter(announcement_run=run)
        .order_by("conversation")
        .values_list("status", flat=True)
    )


def run_states(runs):
    """Each run's stored status and whether it reads as finished."""
    runs = list(AnnouncementRun.objects.filter(pk__in=[r.pk for r in runs]).order_by("pk"))
    progress = runs_progress(runs)
    return [(run.status, progress[run.pk]["finished"]) for run in runs]


@pytest.fixture
def recurring(bot, make_groups, make_announcement):
    """Two runs sent to all, one with a recipient queued and one being sent, and the
    newest whose last message is being sent (taken by a worker: stopped only if that
    attempt does not deliver it, tests/announcements/test_stops_in_flight.py)."""
    announcement, runs = hourly_runs(bot, make_groups(bot, 3), make_announcement, 4)
    first, second, in_flight, last = runs
    set_statuses(first, "sent", "sent", "sent")
    set_statuses(second, "sent", "failed", "sent")
    set_statuses(in_flight, "sent", "queued", "sending")
    set_statuses(last, "sent", "sent", "sending")
    return announcement, runs


def test_cancelling_a_recurring_announcement_cancels_only_its_unfinished_runs(
    recurring, superuser, client
):
    announcement, runs = recurring
    first, second, in_flight, last = runs

    cancelled = operator_actions.cancel(superuser, announcement)

    assert cancelled == 1
    assert run_states(runs) == [
        ("sending", True),  # finished runs keep saying so
        ("sending", True),
        ("cancelled", False),  # its message in flight is still pending
        ("cancelled", False),  # its message in flight is cancelled unless it goes out
    ]
    assert statuses(in_flight) == ["sent", "cancelled", "sending"]
    assert statuses(first) == ["sent"] * 3 and statuses(last) == ["sent", "sent", "sending"]

    set_statuses(last, "sent", "sent", "sent")
    set_statuses(in_flight, "sent", "cancelled", "sent")
    # The last one's message in flight went out: the cancel stopped nothing of it.
    assert run_states(runs)[2:] == [("cancelled", False), ("cancelled", True)]
    client.force_login(superuser)
    client.cookies["django_language"] = "en"
    page = client.get(f"/console/announcements/{announcement.pk}/?partial=runs").content.decode()
    listed = page.split('id="runs"')[1]
    badges = [b.split("</span>")[0].split(">")[-1] for b in listed.split('class="badge ')[1:]]
    # Newest first: the last run, the one cancelled in flight, the two finished before.
    assert badges[:4] == ["Finished", "Cancelled", "Finished", "Finished"]
    assert "Cancelled · 4 sent" not in page


def test_pausing_a_recurring_announcement_holds_only_its_unfinished_runs(recurring, superuser):
    announcement, runs = recurring
    in_flight = runs[2]

    operator_actions.pause(superuser, announcement)

    assert run_states(runs) == [
        ("sending", True),
        ("sending", True),
        ("paused", False),
        ("paused", False),  # its message in flight is held if that attempt fails
    ]
    assert statuses(in_flight) == ["sent", "scheduled", "sending"]
    assert release_due_messages() == 0, "the held recipient waits for resume"

    operator_actions.resume(superuser, announcement)

    assert release_due_messages() == 1
    assert run_states(runs)[2:] == [("sending", False), ("sending", False)]
    assert statuses(in_flight) == ["sent", "queued", "sending"]


def test_cancelling_a_paused_recurring_announcement_cancels_the_held_run_only(recurring, superuser):
    announcement, runs = recurring
    operator_actions.pause(superuser, announcement)

    assert operator_actions.cancel(superuser, announcement) == 1

    assert [status for status, _finished in run_states(runs)] == [
        "sending",
        "sending",
        "cancelled",
        "cancelled",  # its message in flight, held if it failed, is cancelled instead
    ]
    assert statuses(runs[2]) == ["sent", "cancelled", "sending"]


def test_a_paused_run_with_nothing_left_to_hold_is_not_called_cancelled(
    bot, make_groups, make_announcement, superuser
):
    """Paused, then its held recipients cancelled one by one (the history page's Cancel):
    cancelling the announcement has nothing of that run to stop."""
    announcement, (run,) = hourly_runs(bot, make_groups(bot, 2), make_announcement, 1)
    set_statuses(run, "sent", "queued")
    operator_actions.pause(superuser, announcement)
    Message.objects.filter(announcement_run=run, status="scheduled").update(status="cancelled")

    assert operator_actions.cancel(superuser, announcement) == 0

    assert run_states([run]) == [("sending", True)]


def test_a_run_still_being_handed_out_is_stopped_even_with_all_its_messages_finished(
    bot, make_groups, make_announcement, superuser
):
    """Its first batch went out and was sent: the recipients not handed out yet are what
    cancel stops."""
    with time_machine.travel(T0 - timedelta(minutes=30), tick=False) as clock:
        announcement = make_announcement(bot, make_groups(bot, 4), kind="cron", schedule=HOURLY)
        clock.move_to(T0)
        (run_id,) = scheduler.start_due_announcements()
    from announcements.fanout import fan_out_batch

    fan_out_batch(run_id, 2)
    Message.objects.filter(announcement_run_id=run_id).update(status="sent")

    operator_actions.cancel(superuser, announcement)

    run = AnnouncementRun.objects.get(pk=run_id)
    progress = runs_progress([run])[run.pk]
    assert run.status == "cancelled" and not progress["finished"]
    assert (progress["sent"], progress["cancelled"]) == (2, 2)


@pytest.mark.django_db(transaction=True)
def test_two_messages_finishing_at_once_leave_their_run_finished_once(
    agent,  # noqa: F811
    bridge_bot,  # noqa: F811
    make_conversation,
    make_announcement,
    superuser,
    client,
):
    """The last two recipients of a run are delivered by two workers at the same moment:
    nothing is written to the run when they finish, so there is no last writer to miss
    and no second one to count it twice. The run reads finished, once, and cancelling
    the announcement afterwards leaves it so."""
    bridge_bot.rate_limit_per_minute = 6000  # both may leave in the same second
    bridge_bot.save(update_fields=["rate_limit_per_minute"])
    groups = [
        make_conversation(bridge_bot, g["conversation_id"], name=g["name"]) for g in DEMO_GROUPS
    ]
    announcement, (earlier, run) = hourly_runs(bridge_bot, groups, make_announcement, 2)
    set_statuses(earlier, "sent", "sent", "sent")
    first, *last_two = Message.objects.filter(announcement_run=run).order_by("conversation")
    Message.objects.filter(pk=first.pk).update(status="sent")
    start = threading.Barrier(2)
    steps = []

    def worker(message_id):
        try:
            start.wait(timeout=10)
            steps.append(deliver(message_id).result)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(m.pk,)) for m in last_two]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(steps) == ["sent", "sent"], steps
    assert {m.msgid for m in last_two} <= set(agent.sent)
    assert run_states([earlier, run]) == [("sending", True), ("sending", True)]
    client.force_login(superuser)
    client.cookies["django_language"] = "en"
    page = client.get(f"/console/announcements/{announcement.pk}/?partial=runs").content.decode()
    assert page.split('id="runs"')[1].count('"badge ann-finished">Finished</span>') == 2

    assert operator_actions.cancel(superuser, announcement) == 0
    assert run_states([earlier, run]) == [("sending", True), ("sending", True)]
    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.CANCELLED


def test_the_migration_gives_runs_relabelled_by_cancel_or_pause_back_their_finish(
    bot, make_groups, make_announcement
):
    """Before the fix, cancel and pause relabelled every run marked sending, finished
    ones included; the migration takes back what they could not have stopped."""
    migration = importlib.import_module("announcements.migrations.0005_finished_runs_not_stopped")
    announcement, runs = hourly_runs(bot, make_groups(bot, 2), make_announcement, 5)
    relabelled, cancelled_in_flight, relabelled_pause, holding, handing_out = runs
    set_statuses(relabelled, "sent", "failed")
    set_statuses(cancelled_in_flight, "sent", "cancelled")
    set_statuses(relabelled_pause, "sent", "uncertain")
    set_statuses(holding, "sent", "scheduled")
    set_statuses(handing_out, "sent", "sent")
    AnnouncementRun.objects.filter(pk__in=[relabelled.pk, cancelled_in_flight.pk]).update(
        status="cancelled"
    )
    AnnouncementRun.objects.filter(pk__in=[relabelled_pause.pk, holding.pk]).update(status="paused")
    AnnouncementRun.objects.filter(pk=handing_out.pk).update(
        status="cancelled", fanned_out_at=None, fanout_cursor=1
    )

    migration.unstop_finished_runs(apps, None)

    assert run_states(runs) == [
        ("sending", True),
        ("cancelled", False),
        ("sending", True),
        ("paused", False),
        ("cancelled", False),
    ]


def cancel_queries(bot, groups, make_announcement, superuser, finished: int) -> int:
    """How many queries cancelling takes, with `finished` finished runs and one to stop."""
    announcement, runs = hourly_runs(bot, groups, make_announcement, finished + 1)
    *done, pending = runs
    for run in done:
        set_statuses(run, "sent", "sent")
    set_statuses(pending, "sent", "queued")
    with CaptureQueriesContext(connection) as queries:
        assert operator_actions.cancel(superuser, announcement) == 1
    assert run_states(runs)[-2:] == [("sending", True), ("cancelled", False)]
    # The runs it loads (and locks, on PostgreSQL): the one it stopped, no finished one.
    (loaded,) = [
        q["sql"] for q in queries if '"fanned_out_at" FROM "messaging_announcementrun"' in q["sql"]
    ]
    assert f'"messaging_announcementrun"."id" IN ({pending.pk})' in loaded
    return len(queries)


def test_cancelling_takes_as_many_queries_whatever_the_number_of_finished_runs(
    bot, make_groups, make_announcement, superuser
):
    """Finished runs stay "sending" for good: a long-lived recurring announcement's
    history is not locked nor written to by cancel, so its cost does not grow with it."""
    groups = make_groups(bot, 2)
    few = cancel_queries(bot, groups, make_announcement, superuser, 3)
    many = cancel_queries(bot, groups, make_announcement, superuser, 30)

    assert few == many
