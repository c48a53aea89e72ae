"""The task class: `task.delay_on_commit(...)` hands the call to a thread per process that publishes
it, so a broker down or hung holds that thread, never a request (sweepers find lost wake-ups).

A task whose run does the work of every call published before it started (it drains what
waits) declares `drains=True`: while a process's last wake-up of it waits in the broker,
that process publishes no more of it; the one waiting will find their work. A worker
records in the shared cache that a wake-up started (`_record_start`) before the task reads
anything."""

import logging
import os
import threading
import time
from queue import SimpleQueue

from celery.contrib.django.task import DjangoTask
from celery.signals import task_prerun
from celery.utils import uuid
from django.core.cache import cache
from django.db import connections, transaction

from botadmin.cache import best_effort

# A process publishes a fresh wake-up of a `drains` task once its previous one started,
# or this long after publishing it: that one may be lost (the sweepers find its work), or
# queued behind other tasks of its queue (forwarding's retry drains), which then take
# turns with it as they did when each call published one.
START_AWAITED_SECONDS = 1


class Task(DjangoTask):
    merges_ids = False  # True: its one argument is a list of ids; calls waiting together go as one
    drains = False  # True: a run does the work of every call before it started (see above)
    publishers: dict[int, SimpleQueue] = {}  # by pid: a forked child starts its own thread
    # By pid: each `drains` task's last wake-up the publisher thread published (its id and
    # when), until it started.
    awaited: dict[int, dict[str, tuple[str, float]]] = {}

    def delay_on_commit(self, *args, **kwargs) -> None:
        if (pid := os.getpid()) not in Task.publishers:  # a daemon: exit never waits for it
            pending = Task.publishers[pid] = SimpleQueue()
            awaited = Task.awaited[pid] = {}
            threading.Thread(
                target=_publish, args=(pending,), kwargs={"awaited": awaited}, daemon=True
            ).start()
        transaction.on_commit(lambda: Task.publishers[pid].put((self, args, kwargs)))


def _publish(pending: SimpleQueue, linger: float = 0.05, awaited: dict | None = None) -> None:
    awaited = {} if awaited is None else awaited
    while True:  # a call, and up to 999 more that waited meanwhile
        calls = [pending.get()] + [pending.get() for _ in range(min(pending.qsize(), 999))]
        ready = {}  # in order of first call
        for n, (task, args, kwargs) in enumerate(calls):
            if task.merges_ids and not kwargs:  # its later calls' ids join its first call's
                ready.setdefault(task.name, (task, ([],), {}))[1][0].extend(args[0])
            else:
                ready[n] = (task, args, kwargs)
        for task, args, kwargs in ready.values():
            if task.drains and _still_waiting(awaited.get(task.name)):
                continue  # the wake-up waiting will do this call's work too
            task_id = uuid()
            try:
                task.apply_async(args, kwargs, task_id=task_id)
            except Exception as error:  # the console handler masks a broker URL's password
                logging.getLogger(__name__).warning(
                    "Broker down: %s%s waits (%s: %s).",
                    task.name,
                    args,
                    type(error).__name__,
                    error,
                )
                continue
            if task.drains:
                awaited[task.name] = (task_id, time.monotonic())
        time.sleep(linger)  # so under load a round takes many calls (a publish costs as a request)


def _still_waiting(published: tuple[str, float] | None) -> bool:
    """Whether this wake-up (its id, when published) has not started yet, as far as the
    shared cache says; a cache that cannot say, or one awaited too long, counts as started."""
    if published is None or time.monotonic() - published[1] >= START_AWAITED_SECONDS:
        return False
    started = best_effort.attempt(_read_closing, _start_key(published[0]), fallback=True)
    return started is None


def _read_closing(key: str):
    """The cache's value of `key`. A database cache reads it on this thread's own
    connection, closed after: the publisher thread keeps none open between its rounds (a
    test database with a connection open cannot be dropped)."""
    try:
        return cache.get(key)
    finally:
        connections.close_all()  # this thread's


def _start_key(task_id: str) -> str:
    return f"wakeups:started:{task_id}"


@task_prerun.connect
def _record_start(sender=None, task_id=None, **_kwargs) -> None:
    """A `drains` task's wake-up started: its publisher may publish the next one."""
    if getattr(sender, "drains", False):
        best_effort.set(_start_key(task_id), 1, START_AWAITED_SECONDS + 5)


def forget_awaited() -> None:
    """Every process's publisher thread awaits no wake-up's start (for tests: an earlier
    test's wake-up, purged from the broker, never starts)."""
    for awaited in Task.awaited.values():
        awaited.clear()
