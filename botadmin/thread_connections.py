"""Database connections on long-lived threads (a thread pool's), kept as a request keeps them.

Django keeps one connection per thread and, at each request's start and end, closes the
one that is past CONN_MAX_AGE or broken (`close_old_connections`; with CONN_HEALTH_CHECKS
a reused connection is pinged before its first query). A pool thread serves no request:
`as_request` does the same around each call, and `close_on_threads` closes what a pool's
threads keep once it is done with them (a gateway stopping, a test database about to be
dropped: PostgreSQL refuses to drop a database someone is connected to).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from django.db import close_old_connections, connections

T = TypeVar("T")


def as_request(function: Callable[..., T], *args, **kwargs) -> T:
    """`function(*args, **kwargs)` on this thread's connection, reused within CONN_MAX_AGE."""
    close_old_connections()
    try:
        return function(*args, **kwargs)
    finally:
        close_old_connections()


def close_on_threads(executor: ThreadPoolExecutor, threads: int, timeout: float = 5) -> None:
    """Close the connections of `executor`'s threads (`threads`: its max_workers). A
    connection belongs to its thread: one call per thread, the calls meeting at a barrier so
    that each runs on a thread of its own. A thread still busy after `timeout` seconds (a
    hung call) keeps its connection."""
    barrier = threading.Barrier(threads)

    def close() -> None:
        try:
            barrier.wait(timeout=timeout)
        except threading.BrokenBarrierError:
            pass
        connections.close_all()

    wait([executor.submit(close) for _ in range(threads)], timeout=timeout * 2)
