"""Readiness: can this installation do its work right now? (`GET /readyz`) Can this web
process serve the API and the console? (`GET /readyz/web`, for load balancers)

Each component is one check function in `CHECKS`, registered with `@check("name")`;
`web=True` adds it to `WEB_CHECKS`, those a web process cannot serve without.
A check returns normally when the component is fine (optionally a short detail),
raises `Unready(detail)` when it is not, and `Skipped(reason)` when it does not
apply here (the AI bot inbox check skips itself while no gateway has reported
lately). Any other exception counts as failing, by its type.

All checks run at once, each on a thread of its own, and the answer waits at most
`BOTADMIN_READY_TIMEOUT` seconds: a check still running then (a broker that
accepts connections and never answers) is reported as timed out. A check still
running from an earlier request is not started again, so a hung component
holds one thread, however often a load balancer asks. `/metrics` reads its
sources the same way (`run_bounded`).

Workers and beat prove they are alive with a heartbeat: a thread in each
writes the time into the shared cache every `BOTADMIN_HEARTBEAT_INTERVAL`
seconds (`start_heartbeat`, connected to Celery's start-up signals in
botadmin/celery.py): once per role, the newest of all, for `/readyz`, and per
host, for `/metrics` (`heartbeats_by_host`). A worker's roles are the queues it
consumes (`worker_roles`): the sends' worker, the forwarder, the fetcher (media) and the
scheduler run apart. A worker that reads the scheduler queue beside others (one started
with an earlier release's command line) beats as the scheduler too, and also notes its
host (`shared_schedulers`): a backlog of its other work delays what is scheduled, which
/readyz's `scheduler` and /metrics say.
"""

from __future__ import annotations

import atexit
import functools
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connection
from django.utils import timezone

from . import thread_connections
from .logging import mask_secrets

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "botadmin:heartbeat:{role}"
# Per role, {host: Unix time of its last heartbeat}, for /metrics.
HEARTBEAT_HOSTS_KEY = "botadmin:heartbeat-hosts:{role}"
HEARTBEAT_ROLES = ("worker", "forwarder", "fetcher", "scheduler", "beat")
# {host: (Unix time of its last heartbeat, the roles it beats as)} of the workers that read
# the scheduler queue beside other queues, for /readyz and /metrics.
SHARED_SCHEDULERS_KEY = "botadmin:shared-schedulers"
# A host whose process was killed (it never said it stopped) stays in /metrics a day, ageing.
HOST_FORGOTTEN_AFTER = 24 * 3600

T = TypeVar("T")


class Unready(Exception):
    """The component is not working; the message says how (shown in /readyz)."""


class Skipped(Exception):
    """The check does not apply to this installation (shown, never failing)."""


CHECKS: dict[str, Callable[[], str | None]] = {}
# What /readyz/web checks. Not the cache (the API and the console work without it,
# tests/botadmin/test_cache_down.py), the broker (a send is stored and published later)
# nor Celery's processes and the queue: their failure is the same on every web host, and a
# load balancer would take them all out while each one serves.
WEB_CHECKS: list[str] = []


def check(name: str, *, web: bool = False):
    """Register a readiness check under `name` (the component named in /readyz); `web`: a
    web process cannot serve without it (/readyz/web checks it too)."""

    def register(function: Callable[[], str | None]):
        CHECKS[name] = function
        if web and name not in WEB_CHECKS:
            WEB_CHECKS.append(name)
        return function

    return register


@dataclass(frozen=True)
class Result:
    status: str  # ok / fail / skipped
    latency_ms: float
    detail: str = ""

    def as_dict(self) -> dict:
        answer: dict = {"status": self.status, "latency_ms": round(self.latency_ms, 1)}
        if self.detail:
            answer["detail"] = self.detail
        return answer


# One thread per readiness check and per /metrics source (botadmin/metrics.py), by key,
# started at its first use: a hung one holds its own thread and no other's. Each keeps its
# database connection as a request's thread does (thread_connections.as_request: reused
# within CONN_MAX_AGE, pinged first, closed once broken), so a probe or a scrape opens no
# connection, where one per database-reading source cost each one or more connection
# set-ups (bench/metrics.py, docs/performance.md). The price, fixed: one idle connection
# per web process for each key that reads the database (database, queue, the metrics'
# database; with the database cache, also cache, worker, beat, aibot_inbox and the
# metrics' cache: 3 or 8).
_threads: dict[str, ThreadPoolExecutor] = {}
_in_flight: dict[str, Future] = {}
_in_flight_lock = threading.Lock()


def run_checks(names: list[str] | None = None) -> dict[str, Result]:
    """Every registered check (or those named), each bounded by BOTADMIN_READY_TIMEOUT."""
    names = list(CHECKS) if names is None else names
    futures = run_bounded({name: functools.partial(_timed, CHECKS[name]) for name in names})
    timeout_ms = settings.BOTADMIN_READY_TIMEOUT * 1000
    return {
        name: future.result() if future.done() else Result("fail", timeout_ms, "no answer in time")
        for name, future in futures.items()
    }


def run_bounded(calls: dict[str, Callable[[], T]]) -> dict[str, Future[T]]:
    """Run `calls` at once, each on its key's thread, and wait for them at most
    BOTADMIN_READY_TIMEOUT seconds; a future not done() then timed out. A call still running
    under the same key from an earlier request is waited on, not started again."""
    futures = {key: _submit(key, call) for key, call in calls.items()}
    wait(futures.values(), timeout=settings.BOTADMIN_READY_TIMEOUT)
    return futures


def _submit(key: str, call: Callable[[], T]) -> Future[T]:
    with _in_flight_lock:
        running = _in_flight.get(key)
        if running is not None and not running.done():
            return running  # still stuck from an earlier request: wait for that one
        thread = _threads.get(key)
        if thread is None:
            thread = _threads[key] = ThreadPoolExecutor(1, thread_name_prefix=f"readyz-{key}")
        future = thread.submit(thread_connections.as_request, call)
        _in_flight[key] = future
        return future


def close_thread_connections() -> None:
    """Close the connections the checks' threads keep (a test database about to be dropped)."""
    with _in_flight_lock:
        threads = list(_threads.values())
    for thread in threads:
        thread_connections.close_on_threads(thread, 1)


def _timed(function: Callable[[], str | None]) -> Result:
    began = time.monotonic()
    try:
        detail = function() or ""
        status = "ok"
    except Skipped as skipped:
        status, detail = "skipped", str(skipped)
    except Unready as unready:
        status, detail = "fail", str(unready)
    except Exception as error:
        status, detail = "fail", describe(error)
    return Result(status, (time.monotonic() - began) * 1000, detail)


def describe(error: BaseException) -> str:
    """The error's type and first line, with secrets and URL credentials removed."""
    first_line = (str(error).splitlines() or [""])[0][:200]
    text = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
    return mask_secrets(text)  # a URL's user part included


# --- The checks -----------------------------------------------------------------


@check("database", web=True)
def database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@check("cache")
def shared_cache() -> None:
    cache.set("botadmin:readyz", 1, timeout=60)
    if cache.get("botadmin:readyz") != 1:
        raise Unready("a value written was not read back")


@check("broker")
def broker() -> None:
    from celery import current_app

    with current_app.connection_for_write() as conn:
        # Connecting makes a round trip on every transport we use (Redis pings).
        conn.ensure_connection(max_retries=1, timeout=settings.BOTADMIN_READY_TIMEOUT)
        conn.default_channel  # noqa: B018  (opens a channel: the server answered)


def _heartbeat_age(role: str) -> str:
    beat_at = cache.get(HEARTBEAT_KEY.format(role=role))
    if beat_at is None:
        raise Unready("no heartbeat seen")
    age = time.time() - beat_at
    if age > settings.BOTADMIN_HEARTBEAT_MAX_AGE:
        raise Unready(f"last heartbeat {age:.0f} s ago")
    return f"last heartbeat {age:.0f} s ago"


@check("worker")
def worker() -> str:
    return _heartbeat_age("worker")


@check("forwarder")
def forwarder() -> str:
    return _heartbeat_age("forwarder")


@check("fetcher")
def fetcher() -> str:
    return _heartbeat_age("fetcher")


@check("scheduler")
def scheduler() -> str:
    """Fine also when a worker reads the queue beside others: what is scheduled is started,
    late only behind a backlog of the others. Said in the detail (and alerted on)."""
    age = _heartbeat_age("scheduler")
    now = time.time()
    shared = [
        f"{host} (as {roles})"
        for host, (at, roles) in sorted(shared_schedulers().items())
        if now - at <= settings.BOTADMIN_HEARTBEAT_MAX_AGE
    ]
    if shared:
        return f"{age}; also read beside other queues by a worker on {', '.join(shared)}"
    return age


@check("beat")
def beat() -> str:
    return _heartbeat_age("beat")


@check("queue")
def queue() -> str:
    """The oldest outbound message due and still waiting for a worker (not one held on
    purpose: messaging/queue_health.py)."""
    from messaging.queue_health import overdue_since

    now = timezone.now()
    oldest = min(overdue_since(now=now).values(), default=None)
    if oldest is None:
        # Said so: "due 0 s ago" read as if a message were waiting.
        return "no queued message due"
    age = (now - oldest).total_seconds()
    if age > settings.BOTADMIN_READY_MAX_QUEUE_AGE:
        raise Unready(f"oldest queued message due {age:.0f} s ago")
    return f"oldest queued message due {age:.0f} s ago"


@check("aibot_inbox")
def aibot_inbox() -> str:
    """Callbacks the AI bot gateways read (WeCom never sends them again) and did not store
    yet. Shown, never failing: they wait for the database, whose outage fails `database`."""
    from connectors.aibot_inbox import backlog_by_host

    by_host = backlog_by_host()
    if not by_host:
        raise Skipped("no AI bot gateway reported lately")
    waiting = ", ".join(f"{host} {count}" for host, count in sorted(by_host.items()) if count)
    total = sum(by_host.values())
    return f"{total} callbacks read and not stored yet" + (f" ({waiting})" if waiting else "")


# --- Heartbeats -------------------------------------------------------------------


def worker_roles(queues: set[str]) -> list[str]:
    """The heartbeats of a Celery worker consuming these queues: `worker` if it sends (the
    default queue), `forwarder` if it forwards, `fetcher` if it fetches media, `scheduler`
    if it starts announcements and releases scheduled messages; all four for one started
    without --queues."""
    roles = {
        settings.CELERY_TASK_DEFAULT_QUEUE: "worker",
        "forwarding": "forwarder",
        "media": "fetcher",
        "scheduler": "scheduler",
    }
    return [role for queue, role in roles.items() if queue in queues]


def start_worker_heartbeats(queues: set[str]) -> None:
    """The heartbeats of a Celery worker consuming these queues, one per role, and a warning
    in its log when it reads the scheduler queue beside others."""
    roles = worker_roles(queues)
    if "scheduler" in roles and len(roles) > 1:
        logger.warning(
            "This worker reads the scheduler queue beside others (it beats as %s): a backlog "
            "of theirs delays announcements and scheduled messages. Leave the scheduler queue "
            "to the scheduler (--exclude-queues=forwarding,media,scheduler; docs/upgrading.md)",
            ", ".join(roles),
        )
    for role in roles:
        start_heartbeat(role, beside=[other for other in roles if other != role])


def record_heartbeat(role: str, *, beside: Sequence[str] = ()) -> None:
    """`role`'s heartbeat, and this host's (`heartbeats_by_host`). `beside`: the other roles of
    the same worker; the scheduler's notes them (`shared_schedulers`)."""
    now = time.time()
    cache.set(HEARTBEAT_KEY.format(role=role), now, timeout=None)
    _note_host(role, now)
    if role == "scheduler" and beside:
        _note_shared_scheduler((now, ",".join([*beside, role])))


def forget_heartbeat(role: str, *, beside: Sequence[str] = ()) -> None:
    """This host's `role` stopped on purpose: its heartbeat leaves /metrics instead of ageing
    there (a deployment that renames hosts would otherwise look like dead ones)."""
    _note_host(role, None)
    if role == "scheduler" and beside:
        _note_shared_scheduler(None)


def _note_host(role: str, beat_at: float | None) -> None:
    # Read, change, write: two hosts beating at once may drop one's newest heartbeat until
    # its next one, BOTADMIN_HEARTBEAT_INTERVAL later.
    key = HEARTBEAT_HOSTS_KEY.format(role=role)
    hosts = _recent(cache.get(key) or {}, time.time())
    hosts.pop(socket.gethostname(), None)
    if beat_at is not None:
        hosts[socket.gethostname()] = beat_at
    cache.set(key, hosts, timeout=HOST_FORGOTTEN_AFTER)


def _recent(hosts: dict[str, float], now: float) -> dict[str, float]:
    return {host: at for host, at in hosts.items() if now - at <= HOST_FORGOTTEN_AFTER}


def _note_shared_scheduler(beat: tuple[float, str] | None) -> None:
    # Read, change, write, as _note_host.
    hosts = shared_schedulers()
    hosts.pop(socket.gethostname(), None)
    if beat is not None:
        hosts[socket.gethostname()] = beat
    cache.set(SHARED_SCHEDULERS_KEY, hosts, timeout=HOST_FORGOTTEN_AFTER)


def shared_schedulers() -> dict[str, tuple[float, str]]:
    """{host: (Unix time of its last heartbeat, the roles it beats as: "worker,scheduler")}
    of the workers of the last day reading the scheduler queue beside others that did not
    stop on purpose. Read from the cache itself: a cache that is down raises."""
    now = time.time()
    hosts = cache.get(SHARED_SCHEDULERS_KEY) or {}
    return {
        host: (at, roles) for host, (at, roles) in hosts.items() if now - at <= HOST_FORGOTTEN_AFTER
    }


def heartbeats_by_host() -> dict[tuple[str, str], float]:
    """{(role, host): Unix time of its last heartbeat} for the workers and beat of the last
    day (HOST_FORGOTTEN_AFTER) that did not stop on purpose. Read from the cache itself: a
    cache that is down raises."""
    now = time.time()
    keys = {HEARTBEAT_HOSTS_KEY.format(role=role): role for role in HEARTBEAT_ROLES}
    return {
        (keys[key], host): at
        for key, hosts in cache.get_many(list(keys)).items()
        for host, at in _recent(hosts, now).items()
    }


def start_heartbeat(role: str, *, beside: Sequence[str] = ()) -> threading.Thread:
    """Write `role`'s heartbeat now and every BOTADMIN_HEARTBEAT_INTERVAL seconds, and
    forget this host's when the process exits normally (SIGTERM included; not a kill).
    `beside`: the process's other roles (`record_heartbeat`)."""
    lock = threading.Lock()
    stopped = threading.Event()

    def beat_forever() -> None:
        while True:
            try:
                with lock:  # never after the exit's forget_heartbeat
                    if stopped.is_set():
                        return
                    close_old_connections()  # the database cache's connection
                    record_heartbeat(role, beside=beside)
            except Exception:  # the cache is down: /readyz says so; keep trying
                logger.warning("Could not record the %s heartbeat", role, exc_info=True)
            time.sleep(settings.BOTADMIN_HEARTBEAT_INTERVAL)

    def stop() -> None:
        with lock:
            stopped.set()
            try:
                forget_heartbeat(role, beside=beside)
            except Exception:  # the cache is down: the heartbeat ages, as a killed one
                logger.warning("Could not forget the %s heartbeat", role, exc_info=True)

    atexit.register(stop)
    thread = threading.Thread(target=beat_forever, name=f"{role}-heartbeat", daemon=True)
    thread.start()
    return thread
