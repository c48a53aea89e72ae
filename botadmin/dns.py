"""Name lookups that end in time.

`socket.getaddrinfo` has no timeout of its own: it waits as long as the system's
resolver keeps trying (resolv.conf's timeout × attempts for each name server, 10 s
and more with the defaults), and Python cannot interrupt it. So `lookup` runs it on
one of a few shared threads and waits at most the time it is given; a lookup still
running then goes on until the resolver gives up, holding its thread meanwhile.

The threads are few and fixed (POOL_SIZE), so a hung resolver holds no more than
that however many requests ask, and a lookup of a name whose lookup is still
running waits for that one instead of starting another.

A failed lookup says either that the name does not exist (`no_such_name`: asking
again will not help) or that the resolver gave up for now (`try_again_later`).
"""

from __future__ import annotations

import functools
import os
import queue
import socket
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout

POOL_SIZE = 4


class TimedOut(Exception):
    """The call did not finish in time (it may still be running on its thread)."""


class BoundedCalls:
    """Runs calls on `size` threads; each caller waits at most its timeout.

    Calls with the same key share one run while it lasts. A call still waiting for a
    thread when its caller gives up (every thread stuck) is dropped, so the queue does
    not grow either. The threads are daemons: one stuck in the resolver does not hold
    up the process's exit."""

    def __init__(self, size: int, name: str):
        self.size, self.name = size, name
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.running: dict[Hashable, Future] = {}
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def call(self, key: Hashable, function: Callable, timeout: float):
        """`function()`'s result (or exception), or TimedOut after `timeout` seconds."""
        future = self._shared_run(key, function)
        try:
            return future.result(timeout)
        except (FutureTimeout, CancelledError):
            future.cancel()  # only if no thread took it yet
            raise TimedOut(f"no result within {timeout:g} s") from None

    def _shared_run(self, key: Hashable, function: Callable) -> Future:
        with self.lock:
            future = self.running.get(key)
            if future is not None:
                return future
            future = self.running[key] = Future()
            while len(self.threads) < self.size:
                thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                thread.start()
                self.threads.append(thread)
        # Outside the lock: a callback added to a finished future runs at once.
        future.add_done_callback(functools.partial(self._forget, key))
        self.tasks.put((future, function))
        return future

    def _forget(self, key: Hashable, future: Future) -> None:
        with self.lock:
            if self.running.get(key) is future:
                del self.running[key]

    def _work(self) -> None:
        while True:
            future, function = self.tasks.get()
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up before a thread was free
            try:
                result = function()
            except BaseException as error:  # handed to the caller, as concurrent.futures does
                future.set_exception(error)
            else:
                future.set_result(result)


def _new_pool() -> None:
    global _lookups
    _lookups = BoundedCalls(POOL_SIZE, "dns-lookup")


_new_pool()
# A forked child (a prefork worker) has none of its parent's threads: it starts its own.
os.register_at_fork(after_in_child=_new_pool)


def lookup(host: str, port: int, timeout: float) -> list:
    """`socket.getaddrinfo(host, port)` for TCP, within `timeout` seconds: TimedOut after
    that; socket.gaierror and the rest as getaddrinfo raises them."""
    resolve = functools.partial(socket.getaddrinfo, host, port, proto=socket.IPPROTO_TCP)
    return _lookups.call((host, port), resolve, timeout)


# What a failed lookup says about the name (getaddrinfo's EAI_* codes, as glibc gives
# them from its name servers' answers). EAI_NODATA is glibc's alone.
_NO_SUCH_NAME = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)


def no_such_name(error: BaseException) -> bool:
    """The name does not exist (a name server answered NXDOMAIN) or has no address:
    asking again will not change that."""
    return isinstance(error, socket.gaierror) and error.errno in _NO_SUCH_NAME


def try_again_later(error: BaseException) -> bool:
    """The resolver gave up for now (EAI_AGAIN: its name servers did not answer in its
    own time, or answered SERVFAIL): nothing is known about the name yet."""
    return isinstance(error, socket.gaierror) and error.errno == socket.EAI_AGAIN
