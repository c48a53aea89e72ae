"""The task class: `task.delay_on_commit(...)` never makes a request wait for the broker.

Tasks point at committed rows, each kind with a sweeper for lost wake-ups, so a thread per
process publishes after the commit: a broker down or hung holds it, never a request. Calls
waiting together of a task with `merges_ids=True` (one argument, a list of ids) go as one."""

import logging
import os
import threading
from queue import SimpleQueue

from celery.contrib.django.task import DjangoTask
from django.db import transaction

logger = logging.getLogger(__name__)
_queues: dict[int, SimpleQueue] = {}  # by pid: a forked child starts its own thread


class Task(DjangoTask):
    merges_ids = False

    def delay_on_commit(self, *args, **kwargs) -> None:
        self.apply_async_on_commit(args, kwargs)

    def apply_async_on_commit(self, args=(), kwargs=None, **options) -> None:
        transaction.on_commit(lambda: _queue().put((self, tuple(args), kwargs or {}, options)))


def _queue() -> SimpleQueue:
    if os.getpid() not in _queues:  # a daemon: exiting never waits for a hung broker
        _queues[os.getpid()] = SimpleQueue()
        threading.Thread(target=_publish, args=(_queues[os.getpid()],), daemon=True).start()
    return _queues[os.getpid()]


def _publish(pending: SimpleQueue) -> None:
    while True:
        calls, ids, ready = [pending.get()], {}, []
        while not pending.empty() and len(calls) < 1000:
            calls.append(pending.get())
        for task, args, kwargs, options in calls:
            if task.merges_ids and len(args) == 1 and not (kwargs or options):
                if task.name in ids:  # goes out with the first such call, its list grown
                    ids[task.name].extend(args[0])
                    continue
                args = (ids.setdefault(task.name, list(args[0])),)
            ready.append((task, args, kwargs, options))
        for task, args, kwargs, options in ready:
            try:
                task.apply_async(args, kwargs, **options)
            except Exception:
                logger.warning("Broker unavailable; %s%s waits for its sweeper.", task.name, args)
