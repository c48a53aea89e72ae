"""Our migration operations: index builds that run CONCURRENTLY on PostgreSQL recover
from an interrupted run and wait for old transactions whatever `migrate`'s lock_timeout,
and every operation of a non-atomic migration can run again after a partial run."""

import threading

import pytest
from django.db import IntegrityError, connection, connections, models
from django.db.migrations.loader import MigrationLoader

from botadmin.migration_operations import (
    AddFieldIfMissing,
    AddIndexWithoutLocking,
    AddPostgreSQLIndexWithoutLocking,
    AlterDatabaseDefault,
    RemoveForeignKeyIndexWithoutLocking,
)
from conversations.models import Bot
from tests.polling import wait_until

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="CONCURRENTLY index builds are PostgreSQL's"
)
pytestmark = pytest.mark.django_db(transaction=True)  # CONCURRENTLY cannot run in a transaction

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


def run_forwards(operation, app_label="conversations"):
    """Apply `operation` from today's state, as a migration with atomic = False would."""
    from_state = MigrationLoader(connection).project_state()
    to_state = from_state.clone()
    operation.state_forwards(app_label, to_state)
    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards(app_label, editor, from_state, to_state)


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


@postgresql_only
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


@postgresql_only
def test_a_valid_index_of_that_name_is_kept_and_the_migration_goes_on(make_bot):
    """IF NOT EXISTS: a valid index of that name (built by an earlier run of a migration
    that then stopped, or by hand before the upgrade) is kept, not rebuilt, and the
    migration's other operations run."""
    table = connection.ops.quote_name(Bot._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE INDEX {INDEX} ON {table} (connector)")
        cursor.execute("SELECT oid FROM pg_class WHERE relname = %s", [INDEX])
        built_before = cursor.fetchone()[0]
    try:
        operation = AddIndexWithoutLocking(
            model_name="bot", index=models.Index(fields=["connector"], name=INDEX)
        )
        from_state = MigrationLoader(connection).project_state()
        to_state = from_state.clone()
        operation.state_forwards("conversations", to_state)
        with connection.schema_editor(atomic=False) as editor:
            operation.database_forwards("conversations", editor, from_state, to_state)
        assert index_validity(INDEX) is True
        with connection.cursor() as cursor:
            cursor.execute("SELECT oid FROM pg_class WHERE relname = %s", [INDEX])
            assert cursor.fetchone()[0] == built_before
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")


@pytest.fixture
def writer_in_a_transaction(make_bot):
    """A transaction that wrote to the bot table and is still open: what a CONCURRENTLY
    build waits for before it can finish."""
    bot = make_bot()
    writer = connections.create_connection("default")
    with writer.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("UPDATE conversations_bot SET name = name WHERE id = %s", [bot.pk])
    yield writer
    with writer.cursor() as cursor:
        cursor.execute("ROLLBACK")
    writer.close()


def waiting_for_a_lock(statement_start: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE %s AND datname = current_database()",
            [statement_start + "%"],
        )
        return cursor.fetchone()[0] > 0


@postgresql_only
def test_an_index_build_waits_for_older_transactions_whatever_the_lock_timeout(
    writer_in_a_transaction,
):
    """`migrate` sets a short lock_timeout for ALTERs; a CONCURRENTLY build, which blocks
    no write while it waits, waits as long as it takes instead of failing half-way."""
    outcome = {}

    def build():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '10ms'")
            run_forwards(
                AddIndexWithoutLocking(
                    model_name="bot", index=models.Index(fields=["connector"], name=INDEX)
                )
            )
            with connection.cursor() as cursor:
                cursor.execute("SHOW lock_timeout")
                outcome["lock_timeout after"] = cursor.fetchone()[0]
        except Exception as error:  # noqa: BLE001  (reported by the test below)
            outcome["error"] = error
        finally:
            connection.close()

    builder = threading.Thread(target=build)
    builder.start()
    try:
        assert wait_until(lambda: waiting_for_a_lock("CREATE INDEX CONCURRENTLY"), timeout=60)
        with writer_in_a_transaction.cursor() as cursor:
            cursor.execute("COMMIT")
        builder.join(timeout=60)
        assert outcome == {"lock_timeout after": "10ms"}
        assert index_validity(INDEX) is True
    finally:
        builder.join(timeout=60)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")


@postgresql_only
def test_a_postgresql_only_index_is_built_once_however_often_its_migration_runs():
    operation = AddPostgreSQLIndexWithoutLocking(
        name=INDEX, table="conversations_bot", definition="USING btree (UPPER(name))"
    )
    try:
        run_forwards(operation)
        run_forwards(operation)  # a run of the migration after one that stopped later on
        assert index_validity(INDEX) is True
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")


def test_a_column_an_interrupted_run_added_is_not_added_again():
    operation = AddFieldIfMissing(
        model_name="bot", name="probe", field=models.BooleanField(default=False)
    )
    try:
        run_forwards(operation)
        run_forwards(operation)  # the migration again, after it stopped at a later operation

        with connection.cursor() as cursor:
            columns = connection.introspection.get_table_description(cursor, "conversations_bot")
        assert [c.name for c in columns].count("probe") == 1
    finally:
        with connection.schema_editor() as editor:
            editor.remove_field(Bot, _probe_field())


def _probe_field():
    field = models.BooleanField(default=False)
    field.set_attributes_from_name("probe")
    field.model = Bot
    return field


def test_a_database_default_operation_refuses_to_change_anything_else():
    operation = AlterDatabaseDefault(
        model_name="bot",
        name="name",
        field=models.CharField(max_length=300, unique=True, db_default="", verbose_name="name"),
    )
    if connection.vendor != "postgresql":
        run_forwards(operation)  # nothing on SQLite (it would copy the table)
        return
    with pytest.raises(ValueError, match="may change only db_default"):
        run_forwards(operation)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="database defaults are PostgreSQL's")
@pytest.mark.django_db
def test_a_reversed_database_default_stays_for_the_release_migrated_back_to():
    loader = MigrationLoader(connection)
    after = loader.project_state(("forwarding", "0009_endpoint_secret_database_defaults"))
    before = loader.project_state(("forwarding", "0008_database_defaults"))
    migration = loader.get_migration("forwarding", "0009_endpoint_secret_database_defaults")

    with connection.schema_editor(atomic=False) as editor:
        for operation in reversed(migration.operations):
            operation.database_backwards("forwarding", editor, after, before)

    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(
            cursor, "messaging_webhookendpoint"
        )
    defaults = {c.name: c.default for c in columns}
    assert defaults["previous_signing_secret"] == "''::character varying"
    assert "gen_random_uuid()" in defaults["signing_secret"]


def _indexes(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, table))


@pytest.mark.django_db(transaction=True)
def test_a_covered_foreign_key_index_is_dropped_and_reversed_built_again():
    loader = MigrationLoader(connection)
    name = ("messaging", "0027_foreign_keys_covered_by_other_indexes")
    migration = loader.get_migration(*name)
    after = loader.project_state(name)
    before = loader.project_state(("messaging", "0024_database_defaults"))
    dropped = {"messaging_message_bot_id_68883181", "messaging_message_conversation_id_3db4d3d1"}
    assert not dropped & _indexes("messaging_message")

    try:
        with connection.schema_editor(atomic=False) as editor:
            for operation in reversed(migration.operations):
                operation.database_backwards("messaging", editor, after, before)
        assert dropped <= _indexes("messaging_message")
    finally:
        with connection.schema_editor(atomic=False) as editor:
            for operation in migration.operations:
                operation.database_forwards("messaging", editor, before, after)
    assert not dropped & _indexes("messaging_message")


def test_dropping_a_foreign_keys_index_refuses_any_other_change():
    loader = MigrationLoader(connection)
    before = loader.project_state(("messaging", "0024_database_defaults"))
    operation = RemoveForeignKeyIndexWithoutLocking(
        "message",
        "bot",
        models.ForeignKey("conversations.Bot", on_delete=models.CASCADE, db_index=False),
    )
    after = before.clone()
    operation.state_forwards("messaging", after)
    with (
        pytest.raises(ValueError, match="may only turn db_index off"),
        connection.schema_editor(atomic=False) as editor,
    ):
        operation.database_forwards("messaging", editor, before, after)


def _reloptions(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0] or []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="storage parameters are PostgreSQL's")
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("app", "name", "table"),
    [
        ("messaging", "0028_message_autovacuum", "messaging_message"),
        ("forwarding", "0011_delivery_autovacuum", "messaging_webhookdelivery"),
    ],
)
def test_the_busy_tables_are_vacuumed_sooner_and_reversed_as_before(app, name, table):
    sooner = ["autovacuum_vacuum_scale_factor=0.02", "autovacuum_analyze_scale_factor=0.01"]
    assert _reloptions(table) == sooner
    loader = MigrationLoader(connection)
    migration = loader.get_migration(app, name)
    after = loader.project_state((app, name))
    before = loader.project_state((app, migration.dependencies[0][1]))

    with connection.schema_editor() as editor:
        migration.operations[0].database_backwards(app, editor, after, before)
    assert _reloptions(table) == []
