"""Index migrations that run CONCURRENTLY on PostgreSQL recover from an interrupted run."""

import pytest
from django.db import IntegrityError, ProgrammingError, connection, models
from django.db.migrations.loader import MigrationLoader

from botadmin.migration_operations import AddIndexWithoutLocking
from conversations.models import Bot

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="CONCURRENTLY index builds are PostgreSQL's"
    ),
    pytest.mark.django_db(transaction=True),  # CONCURRENTLY cannot run in a transaction
]

INDEX = "bot_connector_probe_idx"


def index_validity(name: str) -> bool | None:
    """True / False: the index exists and is valid / invalid; None: no such index."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


@pytest.fixture
def leftover_invalid_index(make_bot):
    """What a failed `CREATE INDEX CONCURRENTLY` leaves: an invalid index of that name."""
    make_bot(connector="bridge")
    make_bot(connector="bridge")
    table = connection.ops.quote_name(Bot._meta.db_table)
    with pytest.raises(IntegrityError), connection.cursor() as cursor:
        cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON {table} (connector)")
    assert index_validity(INDEX) is False
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")


def test_running_migrate_again_replaces_an_index_an_interrupted_run_left_invalid(
    leftover_invalid_index,
):
    operation = AddIndexWithoutLocking(
        model_name="bot", index=models.Index(fields=["connector"], name=INDEX)
    )
    from_state = MigrationLoader(connection).project_state()
    to_state = from_state.clone()
    operation.state_forwards("conversations", to_state)

    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("conversations", editor, from_state, to_state)

    assert index_validity(INDEX) is True


def test_a_valid_index_of_that_name_is_left_alone(make_bot):
    """Only an invalid leftover is dropped: an existing valid index makes the
    migration fail as before, rather than being rebuilt behind the operator's back."""
    table = connection.ops.quote_name(Bot._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX {INDEX} ON {table} (connector)")
    try:
        operation = AddIndexWithoutLocking(
            model_name="bot", index=models.Index(fields=["connector"], name=INDEX)
        )
        from_state = MigrationLoader(connection).project_state()
        to_state = from_state.clone()
        operation.state_forwards("conversations", to_state)
        with pytest.raises(ProgrammingError, match="already exists"):
            with connection.schema_editor(atomic=False) as editor:
                operation.database_forwards("conversations", editor, from_state, to_state)
        assert index_validity(INDEX) is True
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")
