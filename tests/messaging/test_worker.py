"""Real Celery worker processes against the fake agent: a killed worker delays a message,
it never loses it or sends it twice. Slow by nature (worker start-up), so only a few."""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from botadmin import wakeups
from botadmin.celery import app as celery_app
from botadmin.wakeups import Task
from messaging.models import Message
from messaging.sending import accept_outbound
from messaging.tasks import deliver_messages, sweep_deliveries
from tests.messaging.support import delivery_wake_ups_waiting, purge_broker, take_task_messages
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
TEXT = {"msgtype": "text", "text": {"content": "hello from a real worker"}}


@pytest.fixture
def live_group(transactional_db, agent, make_bot, make_conversation):
    # Tasks other tests left on the test broker (for rows long gone) would only
    # make the worker late; they are not this test's business.
    purge_broker()
    bot = make_bot(name="live", agent_url=agent.url, agent_token=agent.token)
    return make_conversation(bot, "wrDemoGroup0001")


def queue(group) -> Message:
    return accept_outbound(
        bot=group.bot, conversation_id=group.conversation_id, body=TEXT, source="api"
    )


def test_a_worker_delivers_a_message_accepted_before_it_started(live_group, agent, start_worker):
    message = queue(live_group)  # published on commit; no worker yet

    start_worker()

    assert wait_until(lambda: Message.objects.get(pk=message.pk).status == "sent", 120)
    assert list(agent.sent) == [message.msgid]


def test_at_info_a_worker_logs_the_work_not_the_housekeeping(
    live_group, agent, start_worker, tmp_path
):
    # The announcement tick runs every 2 s: its lines buried everything else.
    start_worker(beat=True, loglevel="INFO")
    message = queue(live_group)
    assert wait_until(lambda: message.msgid in agent.sent)
    # Only messaging's release task releases a scheduled message: once this one is sent, a
    # release has run and finished (the solo pool runs one task at a time), and so have the
    # announcements' tick and the sweeps.
    due_soon = accept_outbound(
        bot=live_group.bot,
        conversation_id=live_group.conversation_id,
        body=TEXT,
        source="api",
        send_at=timezone.now() + timedelta(seconds=1),
    )
    assert wait_until(lambda: due_soon.msgid in agent.sent)

    log = (tmp_path / "worker-0.log").read_text()
    assert "Task messaging.deliver_messages[" in log and "succeeded" in log
    assert "beat: Starting" in log
    assert "announcements.tick" not in log and "sweep" not in log
    assert "release_scheduled_messages" not in log


def test_a_worker_killed_mid_send_leaves_the_message_sent_exactly_once(
    live_group, agent, start_worker
):
    agent.behaviour.delay = 5  # the agent sends at once but answers late
    message = queue(live_group)
    doomed = start_worker()
    assert wait_until(lambda: len(agent.send_requests) == 1), "the worker never sent"
    assert Message.objects.get(pk=message.pk).status == "sending"

    os.killpg(doomed.pid, signal.SIGKILL)  # mid-send: no answer was recorded
    doomed.wait(timeout=10)
    agent.behaviour.delay = 0
    start_worker(beat=True)  # with the sweeper

    assert wait_until(lambda: Message.objects.get(pk=message.pk).status == "sent", 90)
    assert list(agent.sent) == [message.msgid]  # the agent got the id twice, sent it once
    attempts = list(message.attempts.order_by("pk").values_list("outcome", "response_text"))
    # The killed try is on record: its attempt was opened at the claim, before the call.
    assert [outcome for outcome, _text in attempts] == ["retry", "sent"]
    assert attempts[0][1].startswith("interrupted")


def test_two_workers_racing_for_one_message_send_it_once(live_group, agent):
    """The claim is a locked compare-and-set: only one of two concurrent runs sends."""
    from django.db import connections

    from messaging.delivery import deliver

    agent.behaviour.delay = 0.5
    message = queue(live_group)
    results = []
    start = threading.Barrier(2)

    def run():
        start.wait()
        try:
            results.append(deliver(message.pk).result)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results) == ["sent", "skipped"]
    assert len(agent.send_requests) == 1


def test_a_backlog_of_wake_ups_never_delays_the_sweeper(live_group, agent, start_worker):
    # As after a worker was killed under load: a send whose lease ran out, which only the
    # sweeper takes back, and wake-ups queued while workers catch up, each of which finds
    # nothing it may send. The sweeper has a queue of its own.
    message = queue(live_group)
    Message.objects.filter(pk=message.pk).update(
        status="sending", attempt_count=1, next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    # A wake-up that finds nothing takes a millisecond or two: enough of them that most
    # still wait when the sweep runs.
    backlog = 5000
    for _ in range(backlog):
        deliver_messages.apply_async([[]])
    # Published as beat publishes it, before the worker starts: how soon an embedded
    # beat ticks on a loaded machine is not what this test is about.
    sweep_deliveries.apply_async()

    start_worker()

    assert wait_until(lambda: Message.objects.get(pk=message.pk).status == "sent", 60)
    waiting = delivery_wake_ups_waiting()
    assert waiting > backlog / 2, f"sent after {backlog - waiting} of {backlog} wake-ups"


def test_a_burst_of_sends_wakes_delivery_with_one_task_message_that_sends_them_all_in_order(
    live_server, live_group, agent, make_conversation, start_worker, monkeypatch
):
    # The sends arrive while no worker runs, so their first wake-up waits in the broker and
    # holds back the rest (for a minute here: however slow this machine, longer than the burst).
    monkeypatch.setattr(wakeups, "START_AWAITED_SECONDS", 60)
    bot = live_group.bot
    bot.rate_limit_per_minute = 6000
    bot.save(update_fields=["rate_limit_per_minute"])
    groups = [live_group, *(make_conversation(bot, f"wrBurst{n}") for n in range(2))]
    burst = 60
    msgids = []
    for n in range(burst):
        body = {"msgtype": "text", "text": {"content": f"burst {n}"}}
        query = {"secret": bot.secret, "conversation_id": groups[n % 3].conversation_id}
        answer = requests.post(live_server.url + "/api/send", params=query, json=body, timeout=10)
        msgids.append(answer.json()["msgid"])
    ours = set(Message.objects.filter(msgid__in=msgids).values_list("pk", flat=True))
    assert len(ours) == burst
    assert wait_until(Task.publishers[os.getpid()].empty, 30)

    def of_the_burst(taken):
        return [m for m in taken if m.task == deliver_messages.name and ours & set(m.args[0])]

    # Taken off the broker to be told from wake-ups an earlier test's commits published late.
    queue_name = celery_app.conf.task_default_queue
    taken = take_task_messages(queue_name, wait=30, until=of_the_burst)
    taken += take_task_messages(queue_name, wait=1)  # any other would be there by now
    woken = of_the_burst(taken)
    assert len(woken) == 1, f"{len(woken)} task messages for {burst} sends"
    deliver_messages.apply_async(woken[0].args)  # put back: the one wake-up of the burst

    start_worker()

    assert wait_until(lambda: len(agent.sent) >= burst, 120)
    assert sorted(agent.sent) == sorted(msgids) and len(agent.send_requests) == burst
    for group in groups:  # each conversation's in the order they were accepted
        to_it = group.conversation_id
        sent = [r["id"] for r in agent.send_requests if r["conversation_id"] == to_it]
        assert sent == [msgid for n, msgid in enumerate(msgids) if groups[n % 3] is group]
