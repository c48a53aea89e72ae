"""A real database failure in the middle of an operator action, for tests that show it
leaves nothing half-done.

    with fails_midway("message.cancel") as published:
        ...  # cancel two messages: the database refuses the second one's audit entry
    assert published == []  # and nothing was handed to a worker

A trigger on the audit table makes the database itself refuse the insert, as a full
disk or a lost connection would refuse a write: none of our code is replaced. It is
removed on leaving (and rolled back with the test's transaction anyway).
"""

import re
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, connection
from django.test import TestCase

from audit.models import OperatorAction

_NAME = "test_refuse_audit_entry"


@contextmanager
def audit_refuses_the_second(action: str):
    """While inside, the database refuses a second new audit entry of `action`
    (the first one made inside goes in)."""
    assert re.fullmatch(r"[a-z_.]+", action), action  # written into the trigger's SQL
    table = connection.ops.quote_name(OperatorAction._meta.db_table)
    before = OperatorAction.objects.filter(action=action).count()
    made = f"(SELECT count(*) FROM {table} WHERE action = '{action}') > {before}"
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


@contextmanager
def fails_midway(action: str):
    """The block must fail with the database refusing its second audit entry of `action`.
    Yields the list of what the block left to run on commit (publishing a task), filled
    on leaving: what a rolled-back block registered is not in it."""
    with (
        audit_refuses_the_second(action),
        TestCase.captureOnCommitCallbacks() as published,
        pytest.raises(DatabaseError),
    ):
        yield published
