"""Waking Celery workers for work that is already in the database.

Every task botadmin publishes points at rows committed before it (the outbox
pattern), and each kind of work has a sweeper that finds rows whose wake-up
never arrived. A wake-up is therefore only a shortcut to low latency, never
the record of the work: publishing must not fail a request, and it should not
cost one much either.

`wake_after_commit(task, ids)` hands the ids, once the transaction commits, to
this process's publisher thread. An idle thread publishes at once; a busy one
publishes at most every PUBLISH_INTERVAL, one broker message per task for
everything that piled up meanwhile. So a lone message is not delayed, and
under load a publish (0.4 ms of Celery and kombu with Redis, about 1 ms with
the filesystem broker) is shared by many requests instead of paid by each.
Tasks woken this way take a list of ids. Ids not yet published when a process dies are lost
wake-ups, which the sweepers recover; a hung broker holds this thread, never
a request.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)

# Ids per broker message: large fan-outs still spread over several workers.
MAX_IDS_PER_MESSAGE = 20
# Under load, the longest a wake-up waits for others to share its broker message.
PUBLISH_INTERVAL = 0.05


def wake_after_commit(task: str, ids: Iterable[int]) -> None:
    """Wake workers for these ids once the current transaction commits (now, outside one)."""
    ids = list(ids)
    if ids:
        transaction.on_commit(lambda: _publisher.add(task, ids))


def send(task: str, args: list, countdown: float | None = None) -> bool:
    """Publish one task message now, in this thread. False (logged) when the broker
    failed: the work is stored, and its sweeper hands it out later."""
    try:
        current_app.send_task(task, args=args, countdown=countdown)
    except Exception:
        logger.warning("Broker unavailable; %s%s waits for its sweeper.", task, args, exc_info=True)
        return False
    return True


def publish(task: str, ids: list[int], countdown: float | None = None) -> bool:
    """Publish now, in this thread: `task(ids)` in chunks. False when the broker failed."""
    for start in range(0, len(ids), MAX_IDS_PER_MESSAGE):
        if not send(task, [ids[start : start + MAX_IDS_PER_MESSAGE]], countdown):
            return False
    return True


def flush() -> None:
    """Publish what this process holds now, in the calling thread (tests, task ends, exit)."""
    _publisher.flush()


class _Publisher:
    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # A forked child starts with no thread; its parent's pending ids are the parent's.
        self._lock = threading.Lock()
        self._pending: dict[str, list[int]] = {}
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, task: str, ids: list[int]) -> None:
        with self._lock:
            self._pending.setdefault(task, []).extend(ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="wakeups", daemon=True)
                self._thread.start()
        self._ready.set()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for task, ids in pending.items():
            publish(task, ids)

    def _run(self) -> None:
        last_flush = 0.0
        while True:
            self._ready.wait()
            wait = last_flush + PUBLISH_INTERVAL - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._ready.clear()
            last_flush = time.monotonic()
            self.flush()


_publisher = _Publisher()
atexit.register(flush)
