"""Migration operations that the stock ones lack."""

import logging

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex

logger = logging.getLogger(__name__)


class _ConcurrentlyOnPostgreSQL:
    """The CONCURRENTLY operation on PostgreSQL, so writes to a big table go on
    meanwhile; `plain`, its stock counterpart, elsewhere (SQLite). The migration
    must declare `atomic = False`."""

    plain: type

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexWithoutLocking(_ConcurrentlyOnPostgreSQL, AddIndexConcurrently):
    """`CREATE INDEX CONCURRENTLY` on PostgreSQL; a plain `AddIndex` elsewhere.

    A `CREATE INDEX CONCURRENTLY` that fails or is interrupted (a killed
    `migrate`, a cancelled statement, a deadlock) leaves an invalid index of
    that name behind, and every later `migrate` would stop at "already
    exists". Such a leftover is dropped first, so running `migrate` again is
    the whole recovery.
    """

    plain = AddIndex

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            drop_invalid_index(schema_editor, self.index.name)
        super().database_forwards(app_label, schema_editor, from_state, to_state)


class RemoveIndexWithoutLocking(_ConcurrentlyOnPostgreSQL, RemoveIndexConcurrently):
    """`DROP INDEX CONCURRENTLY` on PostgreSQL; a plain `RemoveIndex` elsewhere."""

    plain = RemoveIndex


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
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")
    return True
