"""Wake-ups published after the commit: calls waiting together merge where the task allows."""

import threading
from queue import SimpleQueue

from botadmin import wakeups
from conversations.tasks import run_sync
from forwarding.tasks import forward_messages
from messaging.tasks import deliver_messages, fetch_media
from tests.polling import wait_until


def test_waiting_wake_ups_of_an_id_list_task_go_to_the_broker_as_one_call(monkeypatch):
    published = []
    for task in (deliver_messages, forward_messages, run_sync):
        monkeypatch.setattr(
            task,
            "apply_async",
            lambda args, kwargs, task=task, **options: published.append((task.name, args)),
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
    threading.Thread(target=wakeups._publish, args=(pending,), daemon=True).start()

    assert wait_until(lambda: len(published) >= 4, timeout=5)
    assert published == [
        ("messaging.deliver_messages", ([1, 2, 3],)),
        ("messaging.forward_messages", ([10, 11],)),
        ("conversations.run_sync", (7,)),
        ("conversations.run_sync", (8,)),
    ]
    assert deliver_messages.merges_ids and forward_messages.merges_ids and fetch_media.merges_ids
    assert not run_sync.merges_ids  # one sync run per call: never merged


def _recording(monkeypatch) -> list:
    published = []
    monkeypatch.setattr(
        deliver_messages, "apply_async", lambda args, kwargs, **options: published.append(args)
    )
    return published


def test_an_idle_publisher_publishes_a_wake_up_at_once(monkeypatch):
    published = _recording(monkeypatch)
    pending = SimpleQueue()
    # A minute's linger would show: the first round after a quiet time does not wait.
    threading.Thread(target=wakeups._publish, args=(pending, 60.0), daemon=True).start()
    pending.put((deliver_messages, ([1],), {}))

    assert wait_until(lambda: published, timeout=20)
    assert published == [([1],)]


def test_wake_ups_arriving_right_after_a_publish_wait_for_the_next_round_together(monkeypatch):
    published = _recording(monkeypatch)
    pending = SimpleQueue()
    threading.Thread(target=wakeups._publish, args=(pending, 4.0), daemon=True).start()
    pending.put((deliver_messages, ([1],), {}))
    assert wait_until(lambda: published, timeout=20)
    pending.put((deliver_messages, ([2],), {}))
    assert not wait_until(pending.empty, timeout=0.5)  # not taken: the thread waits out the linger
    for ids in ([3, 4], [5]):  # more of the burst, before the next round: one broker message
        pending.put((deliver_messages, (ids,), {}))

    assert wait_until(lambda: len(published) >= 2, timeout=20)
    assert not wait_until(lambda: len(published) > 2, timeout=0.5)
    assert published == [([1],), ([2, 3, 4, 5],)]
