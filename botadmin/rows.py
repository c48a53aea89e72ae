"""Model instances (or converted values) from hand-written SELECTs, for the few
lookups on measured hot paths.

`/api/send` and `/api/callback` look a bot up by its secret on every request.
Building that query through the ORM costs several times the query itself
(about 0.5 ms of Python per query on a 2-core machine, where SQLite answers in
0.03 ms), which made it the largest single cost of accepting a message. Those
lookups are written as SQL instead, and `ModelColumns` turns their rows into
ordinary model instances with the same converters the ORM applies, so callers
cannot tell the difference. The console's open timeline (its page, its polling
and each trace) reads its conversation and messages the same way.

Keep this for measured hot paths only; everything else uses the ORM.
"""

from __future__ import annotations

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

# The largest id a BigAutoField row can have. Hand-written SQL must check ids
# from outside against it: SQLite cannot even bind a larger int (OverflowError).
LARGEST_ID = 2**63 - 1


def id_or_none(text) -> int | None:
    """`text` (a query or form value) as an id some row could have, else None."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        return None
    return value if -LARGEST_ID <= value <= LARGEST_ID else None


def fast_timestamps(cursor) -> None:
    """On PostgreSQL, read this cursor's timestamptz columns with psycopg's C loader.

    Django registers a subclass of psycopg's pure-Python loader (to attach the
    connection's time zone), which keeps psycopg from using its C one: a page of
    51 rows with a timestamp each read 0.3 ms slower. The values are the same,
    aware and in the session's time zone, which Django sets to UTC.
    """
    if cursor.db.vendor == "postgresql":
        from psycopg.types.datetime import TimestamptzLoader

        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)


class ModelColumns:
    """Columns of `model` under a table alias (every concrete one unless `fields`
    names some), and the way back to converted values or an instance."""

    def __init__(self, model: type[models.Model], alias: str, fields: list[str] | None = None):
        self.model = model
        self.alias = alias
        self.fields = (
            [model._meta.get_field(name) for name in fields]
            if fields is not None
            else model._meta.concrete_fields
        )
        self.attnames = [field.attname for field in self.fields]
        self._converters: dict[str, list] = {}
        self._select_lists: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def table(self, connection: BaseDatabaseWrapper) -> str:
        """`"db_table" alias`, for the FROM clause."""
        return f"{connection.ops.quote_name(self.model._meta.db_table)} {self.alias}"

    def select_list(self, connection: BaseDatabaseWrapper) -> str:
        cached = self._select_lists.get(connection.vendor)
        if cached is None:
            quote = connection.ops.quote_name
            cached = ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)
            self._select_lists[connection.vendor] = cached
        return cached

    def values(self, row, connection: BaseDatabaseWrapper) -> list:
        """A row of `select_list()` values as the ORM would convert them."""
        values = list(row)
        for index, converters, column in self._converters_for(connection):
            for converter in converters:
                values[index] = converter(values[index], column, connection)
        return values

    def instance(self, row, connection: BaseDatabaseWrapper) -> models.Model:
        """The instance a row of every concrete column describes, as the ORM would build it."""
        return self.model.from_db(connection.alias, self.attnames, self.values(row, connection))

    def _converters_for(self, connection: BaseDatabaseWrapper) -> list:
        # The same lists SQLCompiler.get_converters() builds: the backend's, then the field's.
        cached = self._converters.get(connection.vendor)
        if cached is None:
            cached = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.alias)
                converters = connection.ops.get_db_converters(column)
                converters += column.get_db_converters(connection)
                if converters:
                    cached.append((index, converters, column))
            self._converters[connection.vendor] = cached
        return cached
