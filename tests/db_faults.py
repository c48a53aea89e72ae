"""A real database failure in the middle of an operator action, for tests that show it
leaves nothing half-done.

    with fails_midway("message.cancel") as published:
        ...  # cancel two messages: the database refuses the second one's audit entry
    assert published == []  # and nothing was handed to a worker

    with fails_to_record("bot.update"):
        ...  # one change: the database refuses its audit entry, so the change is undone

A trigger on the audit table makes the database itself refuse the insert, as a full
disk or a lost connection would refuse a write: none of our code is replaced. It is
removed on leaving (and rolled back with the test's transaction anyway).

Two workers' transactions interleaved as a race would interleave them, on PostgreSQL:

    with updates_wait_at_gate(WebhookEndpoint) as gate:
        # Two threads, each stopped after its first endpoint update (the row locked) until
        # both are; then both go on at once: rows locked in opposite orders deadlock.
        errors = gate.race(lambda: forward_claimed(a), lambda: forward_claimed(b))

A request that read a row and then waits for its lock while another session changes it:

    with changed_while_waited_for(Bot, bot.pk, lambda bot: ...):
        client.post(...)  # reads the bot, waits for its lock, then goes on after the change

Another process writing a row, waiting a little for its lock at most:

    assert written_elsewhere(lambda: Bot.objects.filter(pk=bot.pk).update(...)) == "written"
"""

import re
import threading
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import TestCase

from audit.models import OperatorAction
from tests.polling import wait_until

_NAME = "test_refuse_audit_entry"


def audit_refuses_the_second(action: str):
    """While inside, the database refuses a second new audit entry of `action`
    (the first one made inside goes in)."""
    return audit_refuses(action, after=1)


@contextmanager
def audit_refuses(action: str, *, after: int = 0):
    """While inside, the database refuses every new audit entry of `action` once `after`
    of them went in (0: the first is refused)."""
    assert re.fullmatch(r"[a-z_.]+", action), action  # written into the trigger's SQL
    table = connection.ops.quote_name(OperatorAction._meta.db_table)
    before = OperatorAction.objects.filter(action=action).count()
    made = f"(SELECT count(*) FROM {table} WHERE action = '{action}') >= {before + after}"
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER {_NAME} BEFORE INSERT ON {table} "
                f"WHEN NEW.action = '{action}' AND {made} "
                "BEGIN SELECT RAISE(ABORT, 'audit entry refused by the test'); END"
            )
            drop = [f"DROP TRIGGER {_NAME}"]
        elif connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE FUNCTION {_NAME}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN IF {made} THEN RAISE EXCEPTION 'audit entry refused by the test'; "
                "END IF; RETURN NEW; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER {_NAME} BEFORE INSERT ON {table} FOR EACH ROW "
                f"WHEN (NEW.action = '{action}') EXECUTE FUNCTION {_NAME}()"
            )
            drop = [f"DROP TRIGGER {_NAME} ON {table}", f"DROP FUNCTION {_NAME}()"]
        else:
            raise NotImplementedError(connection.vendor)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                for statement in drop:
                    cursor.execute(statement)
        except DatabaseError:
            pass  # the test's transaction failed: its rollback removes the trigger


def fails_midway(action: str):
    """The block must fail with the database refusing its second audit entry of `action`.
    Yields the list of what the block left to run on commit (publishing a task), filled
    on leaving: what a rolled-back block registered is not in it."""
    return _fails(action, after=1)


def fails_to_record(action: str):
    """The block must fail with the database refusing its (first) audit entry of
    `action`; yields what it left to run on commit, as `fails_midway` does."""
    return _fails(action, after=0)


@contextmanager
def _fails(action: str, *, after: int):
    with (
        audit_refuses(action, after=after),
        TestCase.captureOnCommitCallbacks() as published,
        pytest.raises(DatabaseError),
    ):
        yield published


class Gate:
    """Transactions that update a row of a table stop right after the update, the row
    locked, until the test opens the gate (`updates_wait_at_gate`)."""

    KEY = 7_314_159  # the advisory lock the gate is (any number no other code uses)

    def waiting(self) -> int:
        """How many other sessions of this database wait for a lock now: at the gate, or
        for a row another one holds (PostgreSQL's own view of it)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    def open(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [self.KEY])

    def race(self, *jobs) -> list[DatabaseError]:
        """Run each job on a thread of its own (its own connection) until every one waits,
        at the gate or for a row another holds; then open the gate. Returns the database
        errors the jobs raised (a deadlock's loser)."""
        errors: list[DatabaseError] = []

        def run(job):
            try:
                job()
            except DatabaseError as error:
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        assert wait_until(lambda: self.waiting() == len(jobs), timeout=30), errors
        self.open()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        return errors


@contextmanager
def updates_wait_at_gate(model):
    """While inside, a transaction that updates a row of `model`'s table waits after the
    update, holding that row's lock, until `gate.open()`: two transactions can so be
    made to hold a row each before either goes on, the interleaving a deadlock needs.
    PostgreSQL only (a trigger taking an advisory lock the test holds); the test's own
    connection must be in autocommit (`transactional_db`), so that the trigger is seen by
    the connections of the threads it starts."""
    assert connection.vendor == "postgresql", "row locks and advisory locks: PostgreSQL"
    gate, table = Gate(), connection.ops.quote_name(model._meta.db_table)
    name = f"{_NAME}_gate"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [gate.KEY])
        cursor.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_advisory_xact_lock_shared({gate.KEY}); RETURN NULL; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER {name} AFTER UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"
        )
    try:
        yield gate
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")
            cursor.execute(f"DROP TRIGGER {name} ON {table}")
            cursor.execute(f"DROP FUNCTION {name}()")


@contextmanager
def changed_while_waited_for(model, pk: int, write):
    """While inside, another connection holds the lock of `model`'s row `pk`; once a
    session of the block waits for it (a request that read the row, now locking or
    updating it), `write(row)` runs under that lock and commits, and the block goes on.
    PostgreSQL only (its view of who waits), with `transactional_db`."""
    assert connection.vendor == "postgresql", "row locks: PostgreSQL"
    locked, wrote = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                row = model.objects.select_for_update().get(pk=pk)
                locked.set()
                if wait_until(lambda: Gate().waiting() == 1, timeout=30):
                    write(row)
                    wrote.set()
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(30)
    try:
        yield
    finally:
        thread.join(60)
    assert wrote.is_set(), "the block never waited for the row, or the write failed"


def written_elsewhere(write, *, lock_timeout: str = "2s"):
    """`write()` run on a connection of its own (another process's), which waits at most
    `lock_timeout` for a row's lock: "written", or the DatabaseError of a write that
    waited too long. PostgreSQL only (lock_timeout), with `transactional_db`."""
    assert connection.vendor == "postgresql", "lock_timeout: PostgreSQL"
    outcome: list = []

    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [lock_timeout])
            write()
            outcome.append("written")
        except DatabaseError as error:
            outcome.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    return outcome[0] if outcome else "still waiting"
