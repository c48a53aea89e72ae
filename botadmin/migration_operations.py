"""Migration operations that the stock ones lack."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex


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
    """`CREATE INDEX CONCURRENTLY` on PostgreSQL; a plain `AddIndex` elsewhere."""

    plain = AddIndex


class RemoveIndexWithoutLocking(_ConcurrentlyOnPostgreSQL, RemoveIndexConcurrently):
    """`DROP INDEX CONCURRENTLY` on PostgreSQL; a plain `RemoveIndex` elsewhere."""

    plain = RemoveIndex
