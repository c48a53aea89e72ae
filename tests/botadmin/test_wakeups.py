"""Wake-ups reach the real broker (filesystem, or Redis in CI's second run), many ids per message."""

import time

import pytest
from celery import current_app

from botadmin import wakeups

TASK = "tests.wakeup_probe"


@pytest.fixture
def broker_queue():
    """The default queue, emptied, and a way to read what was published to it."""
    current_app.control.purge()

    def published(expected_ids: int, timeout: float = 10) -> list[list[int]]:
        batches, seen = [], 0
        deadline = time.monotonic() + timeout
        with current_app.connection_for_read() as connection:
            queue = connection.SimpleQueue(current_app.conf.task_default_queue)
            while seen < expected_ids and time.monotonic() < deadline:
                try:
                    message = queue.get(timeout=0.5)
                except queue.Empty:
                    continue
                message.ack()
                if message.headers.get("task") == TASK:
                    args, _kwargs, _embed = message.decode()
                    batches.append(args[0])
                    seen += len(args[0])
            queue.close()
        return batches

    yield published
    current_app.control.purge()


def test_ids_committed_together_go_out_in_few_messages_each_once(
    db, broker_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for start in range(1, 46, 5):
            wakeups.wake_after_commit(TASK, range(start, start + 5))
    wakeups.flush()

    batches = broker_queue(45)
    # Each id once; the filesystem broker does not keep the order of messages.
    assert sorted(pk for batch in batches for pk in batch) == list(range(1, 46))
    assert all(len(batch) <= wakeups.MAX_IDS_PER_MESSAGE for batch in batches)
    assert len(batches) < 45


def test_the_publisher_thread_sends_without_being_asked(
    db, broker_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        wakeups.wake_after_commit(TASK, [7])
    assert broker_queue(1, timeout=5) == [[7]]


def test_nothing_is_published_before_the_commit(
    db, broker_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        wakeups.wake_after_commit(TASK, [8])
    assert len(callbacks) == 1  # held until the commit, which never came
    wakeups.flush()
    assert broker_queue(1, timeout=2) == []
