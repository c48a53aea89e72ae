"""`migrate` runs one at a time per PostgreSQL database: several hosts starting at once
take turns instead of applying the same migration side by side."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection

from botadmin.management.commands.migrate import LOCK_KEY
from devtools.processes import ROOT, database_url
from tests.polling import wait_until

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="an advisory lock of PostgreSQL"),
    pytest.mark.django_db(transaction=True),  # the lock is seen by another process
]


def migrate() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def waiting_for_the_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()[0] > 0


@pytest.fixture
def another_migrate_running():
    """What a migrate on another host holds while it runs."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock_all()")


def test_a_second_migrate_waits_for_the_running_one_then_finds_nothing_to_do(
    another_migrate_running,
):
    second = migrate()
    try:
        assert wait_until(waiting_for_the_lock, timeout=60), second.communicate()[0]
        assert second.poll() is None

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        output, _ = second.communicate(timeout=120)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    assert second.returncode == 0, output
    assert "Waiting for another migrate of this database to finish" in output
    assert "No migrations to apply." in output


def test_the_plan_and_the_check_do_not_wait(another_migrate_running):
    for option in ("--plan", "--check"):
        done = subprocess.run(
            [sys.executable, "manage.py", "migrate", option],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url()},
            capture_output=True,
            text=True,
            timeout=120,  # killed if it waited
        )
        assert done.returncode == 0 and "Waiting" not in done.stdout, done.stdout + done.stderr
    assert not waiting_for_the_lock()
