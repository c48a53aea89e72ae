"""Wake-ups published after the commit: calls waiting together merge where the task allows, and
a draining task's calls wait for the start of its wake-up that waits in the broker."""

import threading
from queue import SimpleQueue

import pytest
from celery.signals import task_prerun

from botadmin import wakeups
from botadmin.logging import MaskSecretsFilter
from conversations.tasks import run_sync
from forwarding.tasks import forward_messages
from messaging.tasks import deliver_messages, fetch_media
from tests.polling import wait_until

# The tests' own publisher threads: what this process's own publisher thread still sends for
# an earlier test (after its commits) is not theirs to record.
TEST_PUBLISHER = "test-publisher"


def ours() -> bool:
    return threading.current_thread().name == TEST_PUBLISHER


def test_waiting_wake_ups_of_an_id_list_task_go_to_the_broker_as_one_call(monkeypatch):
    published = []
    for task in (deliver_messages, forward_messages, run_sync):
        monkeypatch.setattr(
            task,
            "apply_async",
            lambda args, kwargs, task=task, **options: (
                ours() and published.append((task.name, args))
            ),
        )
    pending = SimpleQueue()  # a burst of requests queued these while the thread was busy
    for call in [
        (deliver_messages, ([1],), {}),
        (forward_messages, ([10],), {}),
        (run_sync, (7,), {}),
        (deliver_messages, ([2, 3],), {}),
        (run_sync, (8,), {}),
        (forward_messages, ([11],), {}),
    ]:
        pending.put(call)
    threading.Thread(
        name=TEST_PUBLISHER, target=wakeups._publish, args=(pending,), daemon=True
    ).start()

    assert wait_until(lambda: len(published) >= 4, timeout=30)
    assert published == [
        ("messaging.deliver_messages", ([1, 2, 3],)),
        ("messaging.forward_messages", ([10, 11],)),
        ("conversations.run_sync", (7,)),
        ("conversations.run_sync", (8,)),
    ]
    assert deliver_messages.merges_ids and forward_messages.merges_ids and fetch_media.merges_ids
    assert not run_sync.merges_ids  # one sync run per call: never merged


def _recording(monkeypatch) -> list:
    """Records the wake-ups of `fetch_media`, which merges its calls but does not drain."""
    published = []
    monkeypatch.setattr(
        fetch_media,
        "apply_async",
        lambda args, kwargs, **options: ours() and published.append(args),
    )
    return published


def test_an_idle_publisher_publishes_a_wake_up_at_once(monkeypatch):
    published = _recording(monkeypatch)
    pending = SimpleQueue()
    # A minute's linger would show: the first round after a quiet time does not wait.
    threading.Thread(
        name=TEST_PUBLISHER, target=wakeups._publish, args=(pending, 60.0), daemon=True
    ).start()
    pending.put((fetch_media, ([1],), {}))

    assert wait_until(lambda: published, timeout=20)
    assert published == [([1],)]


def test_wake_ups_arriving_right_after_a_publish_wait_for_the_next_round_together(monkeypatch):
    published = _recording(monkeypatch)
    pending = SimpleQueue()
    threading.Thread(
        name=TEST_PUBLISHER, target=wakeups._publish, args=(pending, 4.0), daemon=True
    ).start()
    pending.put((fetch_media, ([1],), {}))
    assert wait_until(lambda: published, timeout=20)
    pending.put((fetch_media, ([2],), {}))
    assert not wait_until(pending.empty, timeout=0.5)  # not taken: the thread waits out the linger
    for ids in ([3, 4], [5]):  # more of the burst, before the next round: one broker message
        pending.put((fetch_media, (ids,), {}))

    assert wait_until(lambda: len(published) >= 2, timeout=20)
    assert not wait_until(lambda: len(published) > 2, timeout=0.5)
    assert published == [([1],), ([2, 3, 4, 5],)]


# --- A draining task: no more wake-ups while one waits in the broker ----------------------


@pytest.fixture
def forwarding_publisher(monkeypatch):
    """A publisher thread of its own, recording the `forward_messages` wake-ups it publishes
    (ids, task id) instead of sending them; `put(ids)` hands it a call. A wake-up not started
    is awaited for an hour: however slow this machine, only a start ends the wait."""
    monkeypatch.setattr(wakeups, "START_AWAITED_SECONDS", 3600)
    published = []
    monkeypatch.setattr(
        forward_messages,
        "apply_async",
        lambda args, kwargs, task_id, **options: ours() and published.append((args[0], task_id)),
    )
    pending = SimpleQueue()
    threading.Thread(
        name=TEST_PUBLISHER, target=wakeups._publish, args=(pending, 0.0), daemon=True
    ).start()

    def put(ids):
        pending.put((forward_messages, (ids,), {}))
        assert wait_until(pending.empty, timeout=10)  # taken: published or held back

    put.published = published
    return put


def started(task_id: str) -> None:
    """What a worker does as the wake-up `task_id` starts (before the task reads anything)."""
    task_prerun.send(sender=forward_messages, task_id=task_id, task=forward_messages, args=[[]])


def test_a_draining_tasks_wake_up_waiting_in_the_broker_holds_back_the_next_until_it_starts(
    transactional_db, forwarding_publisher
):
    assert forward_messages.drains and deliver_messages.drains and not fetch_media.drains
    put, published = forwarding_publisher, forwarding_publisher.published
    put([1])
    assert wait_until(lambda: published, timeout=10)
    for ids in ([2], [3], [4]):  # while [1]'s wake-up waits: its drain finds these too
        put(ids)
    assert not wait_until(lambda: len(published) > 1, timeout=0.5)

    started(published[0][1])
    put([5])  # arriving after it started, which may no longer find this: published

    assert wait_until(lambda: len(published) > 1, timeout=10)
    assert [ids for ids, _ in published] == [[1], [5]]


def test_a_wake_up_that_never_starts_holds_back_the_next_ones_for_a_while_only(
    transactional_db, forwarding_publisher, monkeypatch
):
    put, published = forwarding_publisher, forwarding_publisher.published
    put([1])  # lost by the broker, say
    assert wait_until(lambda: published, timeout=10)
    put([2])
    assert not wait_until(lambda: len(published) > 1, timeout=0.5)

    monkeypatch.setattr(wakeups, "START_AWAITED_SECONDS", 0)  # its while is over
    put([3])

    assert wait_until(lambda: len(published) > 1, timeout=10)
    assert [ids for ids, _ in published] == [[1], [3]]


def test_without_the_cache_every_wake_up_of_a_draining_task_is_published(
    cache_down, forwarding_publisher
):
    put, published = forwarding_publisher, forwarding_publisher.published
    for count, ids in enumerate(([1], [2], [3]), start=1):
        put(ids)
        assert wait_until(lambda count=count: len(published) >= count, timeout=10)

    assert [ids for ids, _ in published] == [[1], [2], [3]]


def test_a_wake_up_the_broker_refused_holds_nothing_back(transactional_db, monkeypatch):
    published = []

    def broker_down_once(args, kwargs, task_id, **options):
        if not ours():
            return
        if not published:
            published.append(None)
            raise ConnectionRefusedError
        published.append(args[0])

    monkeypatch.setattr(forward_messages, "apply_async", broker_down_once)
    pending = SimpleQueue()
    threading.Thread(
        name=TEST_PUBLISHER, target=wakeups._publish, args=(pending, 0.0), daemon=True
    ).start()
    pending.put((forward_messages, ([1],), {}))
    assert wait_until(lambda: published, timeout=10)
    pending.put((forward_messages, ([2],), {}))

    assert wait_until(lambda: len(published) > 1, timeout=10)
    assert published == [None, [2]]  # [1] waits for the sweeper; [2] was not held back


def test_a_refused_wake_up_is_logged_with_the_error_its_broker_url_password_masked(
    transactional_db, monkeypatch, caplog
):
    published = []

    def broker_down(args, kwargs, task_id, **options):
        if ours():
            published.append(args[0])
            raise OSError("Error connecting to redis://:hunter2@127.0.0.1:6399/0")

    monkeypatch.setattr(forward_messages, "apply_async", broker_down)
    pending = SimpleQueue()
    threading.Thread(
        name=TEST_PUBLISHER, target=wakeups._publish, args=(pending, 0.0), daemon=True
    ).start()
    pending.put((forward_messages, ([1],), {}))
    assert wait_until(lambda: published and _broker_down_records(caplog), timeout=10)

    [record] = _broker_down_records(caplog)
    MaskSecretsFilter().filter(record)  # the console handler's filter
    assert record.getMessage() == (
        "Broker down: messaging.forward_messages([1],) waits"
        " (OSError: Error connecting to redis://********@127.0.0.1:6399/0)."
    )


def _broker_down_records(caplog) -> list:
    return [r for r in caplog.records if r.getMessage().startswith("Broker down: messaging.")]
