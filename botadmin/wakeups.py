"""The task class: `task.delay_on_commit(...)` hands the call to a thread per process that publishes
it, so a broker down or hung holds that thread, never a request (sweepers find lost wake-ups)."""

import logging
import os
import threading
import time
from queue import SimpleQueue

from celery.contrib.django.task import DjangoTask
from django.db import transaction


class Task(DjangoTask):
    merges_ids = False  # True: its one argument is a list of ids; calls waiting together go as one
    publishers: dict[int, SimpleQueue] = {}  # by pid: a forked child starts its own thread

    def delay_on_commit(self, *args, **kwargs) -> None:
        if (pid := os.getpid()) not in Task.publishers:  # a daemon: exit never waits for it
            pending = Task.publishers[pid] = SimpleQueue()
            threading.Thread(target=_publish, args=(pending,), daemon=True).start()
        transaction.on_commit(lambda: Task.publishers[pid].put((self, args, kwargs)))


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
