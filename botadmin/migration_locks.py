"""`migrate`'s lock time-out on PostgreSQL (BOTADMIN_MIGRATE_LOCK_TIMEOUT).

An `ALTER TABLE` needs its table to itself for an instant, and waits for every
transaction reading the table to end first: a console search, a CSV export, the
nightly purge, `pg_dump`. Every insert and update asked for after it queues behind
it: a 1 ms ALTER waiting 7 s behind a long reader held every `/api/send` 7 s.
With a `lock_timeout` the ALTER gives up instead, its migration's transaction rolls
back, writes go on, and `migrate` tries the migration again after a pause, naming
the long transactions that were in the way.

A CONCURRENTLY index build waits for older transactions by design and holds no write
up meanwhile: it runs with no time-out (`migration_operations.without_lock_timeout`).
"""

from __future__ import annotations

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper

# Pause after the first time-out, doubled after each one up to the longest.
FIRST_PAUSE = 2.0
LONGEST_PAUSE = 60.0

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout


def set_lock_timeout(connection: BaseDatabaseWrapper, seconds: float) -> None:
    """Set this session's `lock_timeout` (0: none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, false)", [f"{max(seconds, 0) * 1000:.0f}ms"]
        )


def reset_lock_timeout(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        cursor.execute("RESET lock_timeout")


def is_lock_timeout(error: BaseException) -> bool:
    """Whether `error` is a statement cancelled by `lock_timeout`."""
    cause = error.__cause__ or error
    return LOCK_NOT_AVAILABLE in (
        getattr(cause, "sqlstate", None),  # psycopg 3
        getattr(cause, "pgcode", None),  # psycopg2
    )


def long_transactions(connection: BaseDatabaseWrapper, older_than: float) -> list[str]:
    """The other sessions of this database whose transaction began more than
    `older_than` seconds ago, oldest first: the ones a lock waited for. Each as
    `pid 4242 (psql, idle in transaction for 0:01:02: SELECT …)`."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, coalesce(nullif(application_name, ''), usename, backend_type),"
                " state, date_trunc('second', now() - xact_start),"
                " left(regexp_replace(query, '\\s+', ' ', 'g'), 80)"
                " FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND xact_start < now() - make_interval(secs => %s)"
                " ORDER BY xact_start",
                [older_than],
            )
            rows = cursor.fetchall()
    except DatabaseError:
        return []
    return [
        f"pid {pid} ({who}, {state or 'active'} for {age}: {query})"
        for pid, who, state, age, query in rows
    ]
