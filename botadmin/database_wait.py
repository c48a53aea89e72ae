"""Waiting for the database server to accept connections, for `migrate`.

At boot PostgreSQL (often on another host) may not accept connections yet, and an
operator may restart botadmin during a short database outage. botadmin-migrate.service
runs first and the services Require= it: a `migrate` failing at once failed every
service with it ("dependency failed"), and they stayed down once the database was back.
So `migrate` waits for it, up to BOTADMIN_DATABASE_WAIT_SECONDS, saying why at each
attempt. The long-running services need no such wait: gunicorn answers /readyz 503
(naming the database) and each request opens its connection afresh, and the Celery
worker, beat and the AI bot gateway start without the database and try again at
their next task, tick or poll.

Every failure to connect counts as "not reachable yet": psycopg gives a refused
connection, a host name not resolved yet, "the database system is starting up" and a
wrong password the same class and no SQLSTATE, so a lasting mistake fails only after
the wait; each attempt's line names it meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

from botadmin.logging import mask_secrets

# Pause after the first failed attempt, doubled after each one up to the longest.
FIRST_PAUSE = 1.0
LONGEST_PAUSE = 10.0


class DatabaseUnreachable(Exception):
    """The database still refused connections when the wait ran out."""


def wait_for_database(
    connection: BaseDatabaseWrapper, seconds: float, say: Callable[[str], None]
) -> None:
    """Return once `connection` is open. Until then try again after 1, 2, 4, 8, then
    every 10 s, `say`ing why each time, and raise DatabaseUnreachable once `seconds`
    have passed (plus the attempt under way: PostgreSQL's connect_timeout, 5 s).
    SQLite has no server to wait for: its errors are the file's, and final."""
    if connection.vendor == "sqlite":
        return
    deadline = time.monotonic() + max(seconds, 0)
    pause = FIRST_PAUSE
    while True:
        try:
            connection.ensure_connection()
            return
        except OperationalError as error:
            reason = _reason(error)
            left = deadline - time.monotonic()
            if left <= 0:
                raise DatabaseUnreachable(
                    f"database still not reachable after {seconds:g} s ({reason})"
                ) from None
        wait = min(pause, left)
        say(f"database not reachable yet ({reason}), retrying in {wait:.2g} s")
        time.sleep(wait)
        pause = min(pause * 2, LONGEST_PAUSE)


def _reason(error: OperationalError) -> str:
    """The error's first line, e.g. `connection to server at "10.0.0.5", port 5432
    failed: Connection refused`. libpq never repeats the password, but DATABASE_URL's
    credentials are masked should a driver quote the URL."""
    lines = str(error).strip().splitlines()
    first = " ".join(lines[0].split()) if lines else type(error).__name__
    return mask_secrets(first.removeprefix("connection failed: "))
