"""The task class: `task.delay_on_commit(...)` hands the call to a thread per process that
publishes it, so a broker down or hung holds that thread, never a request (each kind of task
has a sweeper for lost wake-ups). Calls of a `merges_ids=True` task waiting together go as one."""

import logging
import os
import threading
import time
from queue import SimpleQueue

from celery.contrib.django.task import DjangoTask
from django.db import transaction

_queues: dict[int, SimpleQueue] = {}  # by pid: a forked child starts its own thread


class Task(DjangoTask):
    merges_ids = False  # True: its one argument is a list of ids, and one call may take many

    def delay_on_commit(self, *args, **kwargs) -> None:
        if os.getpid() not in _queues:  # a daemon thread: exiting never waits for a hung broker
            _queues[os.getpid()] = SimpleQueue()
            threading.Thread(target=_publish, args=(_queues[os.getpid()],), daemon=True).start()
        transaction.on_commit(lambda: _queues[os.getpid()].put((self, args, kwargs)))


def _publish(pending: SimpleQueue, linger: float = 0.05) -> None:
    while True:  # a call, and up to 999 more that waited meanwhile
        calls = [pending.get()] + [pending.get() for _ in range(min(pending.qsize(), 999))]
        ready = {}  # in order of first call
        for n, (task, args, kwargs) in enumerate(calls):
            if task.merges_ids and not kwargs:  # its later calls' ids join its first call's
                ready.setdefault(task.name, (task, ([],), {}))[1][0].extend(args[0])
            else:
                ready[n] = (task, args, kwargs)
        for task, args, kwargs in ready.values():
            try:
                task.apply_async(args, kwargs)
            except Exception:
                logging.getLogger(__name__).warning("Broker down: %s%s waits.", task.name, args)
        time.sleep(linger)  # so under load a round takes many calls (a publish costs as a request)
