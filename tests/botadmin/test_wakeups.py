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
