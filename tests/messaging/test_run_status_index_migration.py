"""messaging 0031 builds msg_run_status_idx (an announcement run's messages by status, only
the announcements' messages) and drops the run foreign key's own index, which held every
message. Reversed, the foreign key's index comes back and the new one goes; run again
after a partial run (rule 4 of CONTRIBUTING's Migrations), it changes nothing."""

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from tests.query_plans import explain

pytestmark = pytest.mark.django_db(transaction=True)  # CONCURRENTLY runs outside a transaction

NAME = ("messaging", "0031_announcement_run_status_index")
RUN_STATUS = "msg_run_status_idx"
FOREIGN_KEY = "messaging_message_announcement_run_id_359bc3c1"


def indexes() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, "messaging_message"))


def apply(direction: str) -> None:
    loader = MigrationLoader(connection)
    migration = loader.get_migration(*NAME)
    after = loader.project_state(NAME)
    before = loader.project_state(("messaging", "0030_message_due_index"))
    with connection.schema_editor(atomic=False) as editor:
        if direction == "forwards":
            for operation in migration.operations:
                operation.database_forwards("messaging", editor, before, after)
        else:
            for operation in reversed(migration.operations):
                operation.database_backwards("messaging", editor, after, before)


def test_the_run_status_index_replaces_the_foreign_keys_and_reversed_gives_it_back():
    assert RUN_STATUS in indexes() and FOREIGN_KEY not in indexes()

    try:
        apply("backwards")
        assert FOREIGN_KEY in indexes() and RUN_STATUS not in indexes()
    finally:
        apply("forwards")

    assert RUN_STATUS in indexes() and FOREIGN_KEY not in indexes()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="IF NOT EXISTS is the CONCURRENTLY build's, on PostgreSQL; SQLite runs the stock "
    "AddIndex, and its migrate takes no lock time-out to retry after",
)
def test_running_it_again_after_a_partial_run_changes_nothing():
    apply("forwards")

    assert RUN_STATUS in indexes() and FOREIGN_KEY not in indexes()


def test_a_runs_messages_are_found_through_the_index_without_stating_its_condition():
    """Deleting a run checks that no message points to it (PROTECT, and PostgreSQL's
    foreign key): `announcement_run_id = …` implies the index's IS NOT NULL."""
    plan = explain("SELECT 1 FROM messaging_message WHERE announcement_run_id = %s", [1])

    assert "msg_run_status_idx" in plan or "message_once_per_announcement_run" in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's catalogue")
def test_the_index_holds_only_the_announcements_messages_and_is_valid():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [RUN_STATUS],
        )
        valid, condition = cursor.fetchone()

    assert valid and condition == "(announcement_run_id IS NOT NULL)"
