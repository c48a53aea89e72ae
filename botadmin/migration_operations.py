"""Migration operations that the stock ones lack.

The ones named `…WithoutLocking` build or drop an index CONCURRENTLY on PostgreSQL, so
the table takes writes meanwhile; the migration must declare `atomic = False`. Such a
migration is not one transaction: should it stop half-way (a killed `migrate`, a lock
time-out that `migrate` retries), running it again starts from its first operation.
So every operation of ours is safe to repeat: an index is created IF NOT EXISTS and
dropped IF EXISTS, and `AddFieldIfMissing` skips a column an earlier run added.

`migrate` sets a `lock_timeout` (BOTADMIN_MIGRATE_LOCK_TIMEOUT) so that a quick ALTER
waiting behind a long reader fails and is retried instead of queueing every write behind
it. A CONCURRENTLY build or drop waits for older transactions by design without holding
up writes, so it runs with no `lock_timeout` (`without_lock_timeout`).
"""

import logging
import re
from contextlib import contextmanager

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import NotSupportedError, transaction
from django.db.migrations.operations import AddField, AddIndex, AlterField, RemoveIndex, RunSQL
from django.db.migrations.operations.base import Operation, OperationCategory

logger = logging.getLogger(__name__)


@contextmanager
def without_lock_timeout(connection):
    """Run the block with no `lock_timeout` (PostgreSQL), then restore the session's."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        before = cursor.fetchone()[0]
        cursor.execute("SET lock_timeout = 0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", [before])


class _ConcurrentlyOnPostgreSQL:
    """The CONCURRENTLY operation on PostgreSQL, so writes to a big table go on
    meanwhile; `plain`, its stock counterpart, elsewhere (SQLite). The migration
    must declare `atomic = False`."""

    plain: type

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            with without_lock_timeout(schema_editor.connection):
                super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            with without_lock_timeout(schema_editor.connection):
                super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexWithoutLocking(_ConcurrentlyOnPostgreSQL, AddIndexConcurrently):
    """`CREATE INDEX CONCURRENTLY IF NOT EXISTS` on PostgreSQL; a plain `AddIndex` elsewhere.

    A `CREATE INDEX CONCURRENTLY` that fails or is interrupted (a killed
    `migrate`, a cancelled statement, a deadlock) leaves an invalid index of
    that name behind, and every later `migrate` would stop at "already
    exists". Such a leftover is dropped first, so running `migrate` again is
    the whole recovery. A valid index of that name is kept (IF NOT EXISTS): one
    an earlier, interrupted run of the same migration built, or that an operator
    built by hand before the upgrade (README, "Backups and upgrades").
    """

    plain = AddIndex
    describe = AddIndex.describe  # AddIndexConcurrently's omits an index's expressions

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        self._ensure_not_in_transaction(schema_editor)
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return None
        drop_invalid_index(schema_editor, self.index.name)
        sql = str(self.index.create_sql(model, schema_editor, concurrently=True))
        with without_lock_timeout(schema_editor.connection):
            schema_editor.execute(_if_not_exists(sql), params=None)
        return None


class RemoveIndexWithoutLocking(_ConcurrentlyOnPostgreSQL, RemoveIndexConcurrently):
    """`DROP INDEX CONCURRENTLY IF EXISTS` on PostgreSQL; a plain `RemoveIndex` elsewhere."""

    plain = RemoveIndex


class AddPostgreSQLIndexWithoutLocking(Operation):
    """An index that only PostgreSQL has and the models do not declare (a GIN trigram
    index on an expression), built `CONCURRENTLY IF NOT EXISTS`; nothing on SQLite.
    `definition` follows the table's name: `USING gin (UPPER(col) gin_trgm_ops)`.
    `extension` is created first if it is missing (a role allowed to create it)."""

    reversible = True
    reduces_to_sql = True
    atomic = False
    category = OperationCategory.ADDITION

    def __init__(self, name, table, definition, extension=None):
        self.name = name
        self.table = table
        self.definition = definition
        self.extension = extension

    def deconstruct(self):
        kwargs = {"name": self.name, "table": self.table, "definition": self.definition}
        if self.extension:
            kwargs["extension"] = self.extension
        return (self.__class__.__qualname__, [], kwargs)

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        if self.extension:
            schema_editor.execute(f"CREATE EXTENSION IF NOT EXISTS {self.extension}")
        drop_invalid_index(schema_editor, self.name)
        with without_lock_timeout(schema_editor.connection):
            schema_editor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {self.name}"
                f" ON {self.table} {self.definition}"
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        with without_lock_timeout(schema_editor.connection):
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {self.name}")

    def describe(self):
        return f"Create index {self.name} on {self.table} (PostgreSQL only)"


class RemoveForeignKeyIndexWithoutLocking(AlterField):
    """Drop the index Django built for a foreign key (`db_index`), when another index
    starting with the same column serves its lookups: the field's `db_index=False`, and
    one index fewer for every insert to update. `DROP INDEX CONCURRENTLY IF EXISTS` on
    PostgreSQL (writes go on meanwhile; the migration must declare `atomic = False`),
    `DROP INDEX IF EXISTS` on SQLite. Reversed, the index is built again the same way
    (`CREATE INDEX CONCURRENTLY IF NOT EXISTS`). The index has the name Django gave it,
    from the table and the column, as on every installation."""

    category = OperationCategory.REMOVAL

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._check_only_the_index_goes(app_label, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        name = schema_editor.quote_name(self._index_name(schema_editor, model))
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
            return
        self._ensure_not_in_transaction(schema_editor)
        with without_lock_timeout(schema_editor.connection):
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        field = model._meta.get_field(self.name)
        postgresql = schema_editor.connection.vendor == "postgresql"
        if postgresql:
            self._ensure_not_in_transaction(schema_editor)
            drop_invalid_index(schema_editor, self._index_name(schema_editor, model))
        extra = {"concurrently": True} if postgresql else {}
        sql = str(schema_editor._create_index_sql(model, fields=[field], **extra))
        sql = re.sub(r"^(CREATE INDEX(?: CONCURRENTLY)?) ", r"\1 IF NOT EXISTS ", sql)
        with without_lock_timeout(schema_editor.connection):
            schema_editor.execute(sql, params=None)

    def _index_name(self, schema_editor, model) -> str:
        column = model._meta.get_field(self.name).column
        return schema_editor._create_index_name(model._meta.db_table, [column], suffix="")

    def _ensure_not_in_transaction(self, schema_editor):
        # sqlmigrate only shows the SQL (a test's transaction around it changes nothing).
        if schema_editor.connection.in_atomic_block and not schema_editor.collect_sql:
            raise NotSupportedError(
                "Dropping an index concurrently needs a migration with atomic = False."
            )

    def _check_only_the_index_goes(self, app_label, from_state, to_state):
        before = from_state.apps.get_model(app_label, self.model_name)._meta.get_field(self.name)
        after = to_state.apps.get_model(app_label, self.model_name)._meta.get_field(self.name)
        _, _, _, old = before.deconstruct()
        _, _, _, new = after.deconstruct()
        old.pop("db_index", None)
        new.pop("db_index", None)
        if old != new or not before.db_index or after.db_index or not before.is_relation:
            raise ValueError(
                f"RemoveForeignKeyIndexWithoutLocking may only turn db_index off on the "
                f"foreign key {app_label}.{self.model_name}.{self.name}: use AlterField"
            )

    def describe(self):
        return f"Drop the index of the foreign key {self.model_name}.{self.name}"


class RunSQLOnPostgreSQL(RunSQL):
    """`RunSQL` on PostgreSQL only (a storage parameter, say); nothing on SQLite."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class AddFieldIfMissing(AddField):
    """`AddField` for a migration with `atomic = False` (one that also builds an index
    CONCURRENTLY): the column is added in a transaction of its own, and not at all when
    it exists already, because an earlier run of the migration stopped after adding it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        connection = schema_editor.connection
        if schema_editor.collect_sql:  # sqlmigrate shows what a first run does
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        column = (
            to_state.apps.get_model(app_label, self.model_name)._meta.get_field(self.name).column
        )
        with connection.cursor() as cursor:
            existing = connection.introspection.get_table_description(cursor, model._meta.db_table)
        if column in {c.name for c in existing}:
            logger.warning(
                "Column %s.%s exists already: not added again", model._meta.db_table, column
            )
            return None
        with transaction.atomic(using=connection.alias):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)


class AlterDatabaseDefault(AlterField):
    """Give a column its database default (the field's `db_default`) and change nothing
    else: an `ALTER COLUMN … SET DEFAULT` on PostgreSQL, which reads no row. A process
    of the previous release, which does not know the column, can then still insert
    during a rolling upgrade.

    The default is set whatever the state before says: the migration that added the
    column may declare the same `db_default` today, and yet have run, on an install
    that applied it before, without one.

    Nothing on SQLite, which can only change a default by copying the whole table
    (minutes per table at a million messages), and where every process is on the one
    host an upgrade restarts at once: there the column gets its database default when
    the table is next rebuilt. The model's state has it either way.

    Reversed, nothing changes in the database (`database_backwards`)."""

    category = OperationCategory.ALTERATION

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        self._check_only_the_default_changes(app_label, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        field = model._meta.get_field(self.name)
        changes, params = schema_editor._alter_column_database_default_sql(model, None, field)
        schema_editor.execute(
            schema_editor.sql_alter_column
            % {"table": schema_editor.quote_name(model._meta.db_table), "changes": changes},
            params,
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        """The default stays: the release migrated back to does not name the column, so
        its inserts need the default while the column is there (running forwards again
        sets it anew)."""

    def _check_only_the_default_changes(self, app_label, from_state, to_state):
        before = from_state.apps.get_model(app_label, self.model_name)._meta.get_field(self.name)
        after = to_state.apps.get_model(app_label, self.model_name)._meta.get_field(self.name)
        _, _, _, old = before.deconstruct()
        _, _, _, new = after.deconstruct()
        old.pop("db_default", None)
        new.pop("db_default", None)
        if old != new or not after.has_db_default():
            raise ValueError(
                f"AlterDatabaseDefault may change only db_default of "
                f"{app_label}.{self.model_name}.{self.name}, to a value: use AlterField"
            )

    def describe(self):
        return f"Set the database default of {self.model_name}.{self.name}"


def _if_not_exists(create_index_sql: str) -> str:
    """`CREATE [UNIQUE] INDEX CONCURRENTLY name …` → `… CONCURRENTLY IF NOT EXISTS name …`."""
    sql, found = re.subn(
        r"^(CREATE (?:UNIQUE )?INDEX CONCURRENTLY) ", r"\1 IF NOT EXISTS ", create_index_sql
    )
    if not found:
        raise ValueError(f"not a CREATE INDEX CONCURRENTLY: {create_index_sql}")
    return sql


def drop_invalid_index(schema_editor, name: str) -> bool:
    """Drop the index `name` if PostgreSQL marks it invalid (a failed concurrent build)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s AND NOT i.indisvalid AND pg_table_is_visible(c.oid)",
            [name],
        )
        if cursor.fetchone() is None:
            return False
    logger.warning("Dropping index %s, left invalid by an interrupted migration", name)
    with without_lock_timeout(schema_editor.connection):
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")
    return True
