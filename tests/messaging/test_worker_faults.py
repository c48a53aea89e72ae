"""The worker as the Procfile starts it (the configured pool, two at a time) under faults:
a killed process, parent or pool child, or a deleted broker folder delays delivery by
at most about one sweep interval; it never stops it.

The sweep interval is 1 s here. A message whose process died mid-send is taken back by
the next sweep when its attempt's process is gone from this host, else when its lease
runs out (DELIVERY_SENDING_TIMEOUT, 4 s here unless a test says otherwise).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings

from messaging.models import Message
from messaging.outbox import this_pid_namespace
from messaging.sending import accept_outbound
from tests.messaging.support import purge_broker
from tests.polling import wait_until

SWEEP = 1  # the start_worker fixture's
LEASE = 4
# Worker start-up on a loaded machine, and a poll or two.
SLACK = 10


@pytest.fixture
def chats(transactional_db, agent, make_bot, make_conversation):
    purge_broker()  # wake-ups other tests left on the broker
    bot = make_bot(
        name="faults", agent_url=agent.url, agent_token=agent.token, rate_limit_per_minute=100_000
    )
    return [make_conversation(bot, f"wrFaults{i}") for i in range(4)]


def accept(chats, count: int) -> list[Message]:
    return [
        accept_outbound(
            bot=chats[0].bot,
            conversation_id=chats[i % len(chats)].conversation_id,
            body={"msgtype": "text", "text": {"content": f"fault {i}"}},
            source="api",
        )
        for i in range(count)
    ]


def all_sent(messages: list[Message]) -> bool:
    pks = [message.pk for message in messages]
    return not Message.objects.filter(pk__in=pks).exclude(status="sent").exists()


def statuses(messages: list[Message]) -> list[str]:
    return list(
        Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("status", flat=True)
    )


def pool_children(worker: subprocess.Popen) -> list[int]:
    """The worker's child processes (Linux /proc)."""
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    return [int(pid) for pid in children.read_text().split()]


def wait_ready(worker: subprocess.Popen, chats, agent) -> None:
    """Until the worker delivers (start-up takes seconds on a loaded machine)."""
    probe = accept(chats, 1)
    assert wait_until(lambda: all_sent(probe), 90), "the worker never delivered"
    assert worker.poll() is None


def test_a_killed_worker_restarted_delivers_everything_within_a_sweep_of_its_start(
    chats, agent, start_worker
):
    doomed = start_worker(pool=None, concurrency=2, beat=True)
    wait_ready(doomed, chats, agent)
    agent.behaviour.delay = 2  # the worker is mid-send when it dies
    messages = accept(chats, 20)
    assert wait_until(lambda: len(agent.send_requests) > 1)

    os.killpg(doomed.pid, signal.SIGKILL)  # the parent, its pool and its beat
    doomed.wait(timeout=10)
    agent.behaviour.delay = 0
    began = time.monotonic()
    start_worker(pool=None, concurrency=2, beat=True)

    assert wait_until(lambda: all_sent(messages), LEASE + SWEEP + SLACK)
    assert time.monotonic() - began < LEASE + SWEEP + SLACK
    sent_ids = [msgid for msgid in agent.sent if msgid in {m.msgid for m in messages}]
    assert sorted(sent_ids) == sorted(m.msgid for m in messages)  # each once


def test_a_killed_pool_child_stops_no_delivery(chats, agent, start_worker):
    worker = start_worker(pool=None, concurrency=2)  # its only children: the pool's
    wait_ready(worker, chats, agent)
    children = pool_children(worker)
    if settings.CELERY_WORKER_POOL in ("threads", "solo"):
        # The filesystem broker's default: nothing to lose (a prefork child
        # killed there while holding the pool's input lock froze all delivery).
        assert children == []
        return
    assert children, "a prefork pool has children"
    for child in children:  # idle children, as the OOM killer would pick them
        os.kill(child, signal.SIGKILL)
    began = time.monotonic()

    messages = accept(chats, 20)

    assert wait_until(lambda: all_sent(messages), SWEEP + SLACK)
    assert time.monotonic() - began < SWEEP + SLACK
    assert worker.poll() is None


def removed_whole(folder: Path) -> bool:
    """Whether one `rm -rf` of `folder` removed it and all in it; False when a file came
    or went meanwhile (the worker writing or taking a task message)."""
    try:
        shutil.rmtree(folder)
    except OSError:
        return False
    return True


@pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("filesystem://"),
    reason="only the filesystem broker keeps its messages in a folder",
)
def test_a_deleted_broker_folder_neither_kills_the_worker_nor_stops_delivery(
    chats, agent, start_worker
):
    worker = start_worker(pool=None, concurrency=2, beat=True)
    wait_ready(worker, chats, agent)
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]).parent

    # `rm -rf var/broker` while botadmin runs; the worker may write into it meanwhile
    # (rmtree then meets a folder that is not empty any more), so delete until one rmtree
    # removes it whole. The worker makes its folders again at its next poll, maybe before
    # the next line here: that is what this test wants, so the folder is not looked for.
    assert any(removed_whole(folder) for _ in range(20)), f"{folder} kept being written"
    time.sleep(1)  # the worker polls the missing folder meanwhile
    messages = accept(chats, 10)

    assert wait_until(lambda: all_sent(messages), SWEEP + SLACK), statuses(messages)
    assert worker.poll() is None


def test_a_process_killed_mid_send_is_sent_again_by_the_next_sweep_not_after_its_lease(
    chats, agent, start_worker
):
    """The process that made the attempt is killed: a prefork pool's child (the worker
    lives on), or the worker itself with a threads pool (then started again). A lease of
    10 minutes, which the test never waits: the process is gone, so the sweep takes the
    message back. A prefork child's task message comes back at once (acks_late) and
    takes it back itself: that worker runs without the sweeper."""
    prefork = settings.CELERY_WORKER_POOL == "prefork"
    worker = start_worker(pool=None, concurrency=2, beat=not prefork, lease=600)
    wait_ready(worker, chats, agent)
    agent.behaviour.delay = 30  # the agent shows the message at once and answers late
    (message,) = accept(chats, 1)
    assert wait_until(lambda: message.msgid in agent.sent), "the worker never sent"
    (killed,) = message.attempts.values_list("worker", flat=True)
    host, _, pid = killed.rpartition(":")
    assert host == this_pid_namespace()

    if int(pid) == worker.pid:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        worker = start_worker(pool=None, concurrency=2, beat=True, lease=600)
    else:
        assert prefork
        assert int(pid) in pool_children(worker)
        os.kill(int(pid), signal.SIGKILL)  # mid-send, as the OOM killer would
    agent.behaviour.delay = 0
    began = time.monotonic()

    assert wait_until(lambda: all_sent([message]), SWEEP + SLACK), statuses([message])
    assert time.monotonic() - began < SWEEP + SLACK
    assert list(agent.sent).count(message.msgid) == 1
    attempts = list(
        message.attempts.order_by("pk").values_list("outcome", "response_text", "worker")
    )
    # Every try is on record, the killed one first: opened at its claim, with its process.
    assert [outcome for outcome, _, _ in attempts] == ["retry", "sent"]
    assert attempts[0][1].startswith("interrupted") and attempts[0][2] == killed
    assert attempts[1][2] not in ("", killed)
    assert worker.poll() is None
