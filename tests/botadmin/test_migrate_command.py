"""`migrate` runs one at a time per PostgreSQL database: several hosts starting at once
take turns instead of applying the same migration side by side. A migration that waits
for a table behind a long reader gives up after BOTADMIN_MIGRATE_LOCK_TIMEOUT, so writes
go on, and is tried again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder

from botadmin.management.commands.migrate import LOCK_KEY
from devtools.processes import ROOT, database_url
from messaging.models import Message
from tests.polling import wait_until

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="an advisory lock of PostgreSQL"),
    pytest.mark.django_db(transaction=True),  # the lock is seen by another process
]


def migrate(**env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(), **env},
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


# A migration whose ALTER TABLE needs the message table to itself for an instant: it adds
# a column (with a database default), as most of ours that alter a big table do.
ALTERS_MESSAGES = ("messaging", "0025_message_created_by_label")
ADDED_BY_IT = "created_by_label"


@pytest.fixture
def an_alter_of_the_message_table_to_apply():
    call_command("migrate", "messaging", "0024_database_defaults", verbosity=0)
    yield
    call_command("migrate", verbosity=0)


def insert_as_the_previous_release(message: Message) -> int:
    """Stores `message` as the release before ALTERS_MESSAGES does while it migrates: every
    column the table has then, not the one the migration adds nor those later migrations
    add (which later releases write). Its id."""
    with connection.cursor() as cursor:
        columns = {
            column.name
            for column in connection.introspection.get_table_description(
                cursor, Message._meta.db_table
            )
        }
    fields = [
        f
        for f in Message._meta.concrete_fields
        if f.column in columns and f.name != ADDED_BY_IT and not f.primary_key
    ]
    [(pk,)] = Message._base_manager._insert(
        [message], fields=fields, returning_fields=[Message._meta.pk], using="default"
    )
    return pk


class LongReader:
    """A transaction that read the message table and is still open (a console search, a
    CSV export, pg_dump): it holds a lock that ALTER TABLE must wait for."""

    def __init__(self):
        self._connection = connections.create_connection("default")
        with self._connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT count(*) FROM messaging_message")
            cursor.execute("SELECT pg_backend_pid()")
            self.pid = cursor.fetchone()[0]

    def end(self):
        if self._connection.connection is not None:
            with self._connection.cursor() as cursor:
                cursor.execute("ROLLBACK")
            self._connection.close()


@pytest.fixture
def long_reader():
    reader = LongReader()
    yield reader
    reader.end()


class Output:
    """A process's output lines as they come."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process):
        for line in process.stdout:
            self.lines.append(line)

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(self.lines)


def test_a_migration_held_up_by_a_long_reader_lets_writes_through_and_is_retried(
    bot, group, an_alter_of_the_message_table_to_apply, long_reader
):
    # The bot and group are made before migrating back: unapplying messaging takes the
    # later migrations of the apps built on it along (forwarding's endpoint columns).
    running = migrate(BOTADMIN_MIGRATE_LOCK_TIMEOUT="0.2", BOTADMIN_MIGRATE_RETRY_SECONDS="600")
    output = Output(running)
    try:
        assert wait_until(lambda: output.has("retrying in"), timeout=120), output.text()

        # The reader still holds the table and migrate is still at it: a send goes through.
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '60s'")  # fails the test instead of hanging it
        try:
            sent = insert_as_the_previous_release(
                Message(
                    bot=bot,
                    conversation=group,
                    direction=Message.Direction.OUT,
                    msgtype="text",
                    body={"msgtype": "text", "text": {"content": "写入不受阻"}},
                    search_text="写入不受阻",
                    status=Message.Status.QUEUED,
                    source=Message.Source.API,
                )
            )
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        assert Message.objects.filter(pk=sent).exists()
        assert running.poll() is None

        long_reader.end()
        running.wait(timeout=300)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()

    said = output.text()
    assert running.returncode == 0, said
    assert f"pid {long_reader.pid} (" in said  # named as the transaction in the way
    assert f"Applying {ALTERS_MESSAGES[0]}.{ALTERS_MESSAGES[1]}... OK" in said
    assert ALTERS_MESSAGES in MigrationRecorder(connection).applied_migrations()


def test_migrate_gives_up_after_its_retry_time_naming_the_transaction_in_the_way(
    an_alter_of_the_message_table_to_apply, long_reader
):
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url(),
            "BOTADMIN_MIGRATE_LOCK_TIMEOUT": "0.2",
            "BOTADMIN_MIGRATE_RETRY_SECONDS": "0",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode != 0
    assert "giving up" in done.stderr and f"pid {long_reader.pid} (" in done.stderr, done.stderr
    assert ALTERS_MESSAGES not in MigrationRecorder(connection).applied_migrations()
