"""The outbox protocol: how both sending engines hand stored work to the wire.

Delivery (messaging.delivery: outbound messages to connectors) and forwarding
(forwarding.webhook_delivery: inbound messages to webhook endpoints) follow the
same rules, and take them from here:

* The row is the outbox. It is committed first; only its id travels through
  the broker, after the commit. It carries a status (waiting → in flight →
  finished), `next_attempt_at` (when it is due; while in flight, the lease:
  past it, the row belongs to a lost worker) and an attempt count.
* A worker claims due rows in batches (`lock_due`): one query locks up to a
  batch, one update marks them in flight with a lease, and one insert opens
  an attempt row for each (`IN_FLIGHT`), all in one transaction, before any
  call is made. The outcome is written on that attempt after the call. A
  worker killed mid-call therefore leaves an open attempt, which whoever
  takes the row back completes as `INTERRUPTED`. The attempt row names its
  process (`holder`: host, PID namespace and pid); a sweeper ends at once the
  lease of a row whose process is gone from its host (`end_abandoned_leases`:
  a pool child killed mid-call), instead of waiting for the lease to run out,
  and so does a task message that comes back after its pool child was killed
  (`redelivered`).
* A batch of slow calls outlasts its claim's lease: before each call the worker
  renews the leases of the rows of its batch it has not called yet, when
  they run low, and leaves alone those that are no longer its own
  (`renew_leases`): a live worker's rows are never taken back, only a lost one's.
* A failed attempt is retried after `retry_delay(schedule, failures)`; each
  engine has its schedule (a table of delays): delivery's doubling one
  (`delivery_schedule`) and forwarding's Svix-like one (`FORWARDING_SCHEDULE`).
  The media fetcher (messaging/media_fetch.py) takes its retries' schedule and
  its claim's lock (`lock_due`) from here too.
* A wake-up is only a shortcut to low latency, published after the commit
  without ever holding a request (botadmin/wakeups.py): a woken worker drains
  every due row, and each engine's sweeper (a beat entry) finds rows whose
  wake-up was lost (a broker down, a killed worker).
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from botadmin.reasons import Reason

# An attempt row's outcome from its claim until its call has an answer.
IN_FLIGHT = "in_flight"
IN_FLIGHT_LABEL = _("In flight")
# An attempt row's `worker` (`holder`).
WORKER_HELP = _("The process that made the attempt (host:pid).")
# What a taken-back attempt says (its row's lease ran out with no answer recorded).
INTERRUPTED = Reason(
    gettext_noop("interrupted: the worker stopped during this attempt, no answer was recorded")
)
# Rows claimed by one query: enough to amortise the claim, few enough to share work.
CLAIM_BATCH = 50
# A worker writes the answers it got at least this often (one transaction for all of
# them), so a sent row shows it within a fraction of a second.
RECORD_EVERY_SECONDS = 0.25


@dataclass(frozen=True)
class RetrySchedule:
    """Seconds to wait after the 1st, 2nd, … failed attempt; none left: give up, unless
    `repeat_last` (then something else says when to give up, as a media's lifetime)."""

    delays: tuple[float, ...]
    jitter: float  # ± this fraction, so rows that failed together do not retry together
    repeat_last: bool = False


def retry_delay(schedule: RetrySchedule, failures: int, at_least: float = 0.0) -> float | None:
    """Seconds until the next attempt after `failures` failed ones; None when the schedule
    is used up. `at_least`: what the other side asked for (Retry-After)."""
    if schedule.repeat_last:
        failures = min(failures, len(schedule.delays))
    if failures < 1 or failures > len(schedule.delays):
        return None
    delay = schedule.delays[failures - 1] * random.uniform(1 - schedule.jitter, 1 + schedule.jitter)
    return max(delay, at_least)


# The longest wait a `Retry-After` adds to a schedule's, in both engines (docs/webhooks.md,
# docs/bridge-protocol.md): never sooner than the schedule, and a mistaken "come back
# tomorrow" (a proxy's maintenance page) costs an hour at most.
RETRY_AFTER_AT_MOST = 3600.0


def delivery_schedule() -> RetrySchedule:
    """DELIVERY_RETRY_BASE_DELAY, doubling, for DELIVERY_MAX_ATTEMPTS attempts in all."""
    base = settings.DELIVERY_RETRY_BASE_DELAY
    return RetrySchedule(
        tuple(base * 2**n for n in range(settings.DELIVERY_MAX_ATTEMPTS - 1)), jitter=0.2
    )


def latest_give_up(schedule: RetrySchedule, failures: int, next_at: datetime) -> datetime | None:
    """When a message is given up at the latest if every attempt it has left fails, its
    `failures` attempts failed and its next due at `next_at`: the schedule's waits left
    at their longest (jitter; a longer wait the other side asks for, Retry-After, is
    not foreseen). None for a schedule without an end of its own (`repeat_last`)."""
    if schedule.repeat_last:
        return None
    waits = sum(schedule.delays[max(failures, 0) :]) * (1 + schedule.jitter)
    return next_at + timedelta(seconds=waits)


# Bridge spec section 4 (as Svix): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
FORWARDING_SCHEDULE = RetrySchedule(
    (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0), jitter=0.1
)


def lock_due(queryset: QuerySet, limit: int = CLAIM_BATCH) -> list:
    """Up to `limit` rows of `queryset`, this transaction's alone until it ends.

    PostgreSQL skips rows another claim holds (`SKIP LOCKED`), so workers
    claiming side by side take different rows without waiting. SQLite has no
    row locks: botadmin opens its transactions IMMEDIATE (settings.py), so a
    claim holds the database's write lock from its first statement and claims
    run one after the other. Call inside `transaction.atomic()`.
    """
    return list(queryset.select_for_update(skip_locked=True, of=("self",))[:limit])


def holder() -> str:
    """The process making an attempt, as its attempt row records it: "host/namespace:pid"."""
    return f"{this_pid_namespace()}:{os.getpid()}"


@functools.cache
def this_pid_namespace() -> str:
    """Where this process's pid means something: the host name, and a tag of this
    boot and PID namespace.

    The host name alone is not enough: containers sharing the host's network
    (and so its name) each have their own pids, and a sweeper that took another
    container's live worker for a process of its own that has ended would take
    back a message while it is being sent, and send it twice. Linux only; the
    host name elsewhere."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return socket.gethostname()
    tag = hashlib.blake2b(f"{boot} {namespace}".encode(), digest_size=4).hexdigest()
    return f"{socket.gethostname()}/{tag}"


def holder_gone(worker: str) -> bool:
    """Whether an attempt's process (`holder`) was one of this PID namespace's and has ended.

    Another host's or container's process, or a pid already in use again, counts
    as alive: its row waits for its lease to run out, as before."""
    namespace, _, pid = worker.rpartition(":")
    if namespace != this_pid_namespace() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process
        return False
    try:  # a zombie (killed, not yet reaped by its parent) has ended too
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def end_abandoned_leases(leased: QuerySet, attempts: QuerySet, link: str, now: datetime) -> int:
    """End now the leases of in-flight rows whose open attempt's process is gone
    (`holder_gone`), so that they are taken back at once; returns how many.

    `leased`: the engine's in-flight rows; `attempts`: its attempt rows, whose
    foreign key to the row is `link`. A row whose claim ended since it was read
    and that was claimed again keeps its new lease: its open attempt is another
    process's (its attempt count may be the one read again, as a hold for a daily
    cap or a claim kept back takes its attempt back)."""
    held = list(
        attempts.filter(
            outcome=IN_FLIGHT, **{f"{link}__in": leased.filter(next_attempt_at__gt=now)}
        ).values_list(link, f"{link}__attempt_count", "worker")
    )
    gone = {worker: holder_gone(worker) for _, _, worker in held}
    return sum(
        leased.filter(pk=pk, attempt_count=count, next_attempt_at__gt=now)
        .filter(Exists(attempts.filter(**{link: OuterRef("pk")}, outcome=IN_FLIGHT, worker=worker)))
        .update(next_attempt_at=now)
        for pk, count, worker in held
        if gone[worker]
    )


def renew_leases(
    rows: QuerySet, status: str, held: dict[int, object], by: str, lease: datetime, now: datetime
) -> set[int]:
    """Move to `lease` the leases of the claimed rows that are still this claim's; returns
    their ids.

    `held`: by id, the value of column `by` this claim saw (its lease, or its attempt
    count): a row still `status` with that value is this claim's; one taken back
    meanwhile (this worker stalled past its lease), and claimed again or not, is left
    to whoever took it. Intent of the lock: no sweeper or claim takes a row back
    between the look and the renewal."""
    with transaction.atomic(using=router.db_for_write(rows.model)):
        still = {
            pk
            for pk, seen in rows.filter(pk__in=held, status=status)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", by)
            if held[pk] == seen
        }
        rows.filter(pk__in=still).update(next_attempt_at=lease, updated_at=now)
    return still


def redelivered(task) -> bool:
    """Whether the running `task` is a message that came back because the pool child that
    ran it was killed (acks_late + reject_on_worker_lost requeue it at once): it then first
    takes back what that child held, instead of leaving it to the next sweep."""
    return bool((task.request.delivery_info or {}).get("redelivered"))


def update_each(
    model, fields: list[str], rows: list[tuple], where: str = "", added: Sequence[str] = ()
) -> int:
    """`UPDATE table SET field = %s, …, other = other + %s, … WHERE id = %s [AND where]` for
    each row (the values of `fields`, then what it adds to each of `added`, then the id, then
    `where`'s parameters); returns how many rows changed in all.

    Recording a batch of answers is one statement text run for every row by the
    database driver (`executemany`), where `bulk_update` builds a CASE … WHEN
    per field and row and `update()` a query per row: most of the engines'
    own time per message went there. Values go through each field's
    `get_db_prep_save`, as the ORM's.
    """
    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = [model._meta.get_field(name) for name in fields]
    sums = [quote(model._meta.get_field(name).column) for name in added]
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET "
        + ", ".join(
            [f"{quote(field.column)} = %s" for field in columns]
            + [f"{column} = {column} + %s" for column in sums]
        )
        + f" WHERE {quote(model._meta.pk.column)} = %s"
        + (f" AND ({where})" if where else "")
    )
    params = []
    for row in rows:
        values, extra = row[: len(columns)], row[len(columns) :]
        params.append(
            [
                field.get_db_prep_save(v, connection)
                for field, v in zip(columns, values, strict=True)
            ]
            + [
                connection.ops.adapt_datetimefield_value(v) if isinstance(v, datetime) else v
                for v in extra
            ]
        )
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
        return cursor.rowcount


def enqueue_delivery(message_id: int) -> None:
    """Wake a worker for this message once the current transaction commits."""
    from .tasks import deliver_messages  # the tasks import the engine, which imports this

    deliver_messages.delay_on_commit([message_id])
