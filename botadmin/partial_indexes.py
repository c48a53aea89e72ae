"""Stating a partial index's condition in a query, so that SQLite uses the index.

SQLite uses a partial index only when the query's WHERE implies the index's
condition, which it proves term by term from the SQL alone: a bound `status = ?`
implies `status = 'queued'` (and an OR of equalities holding it), but nothing
implies `status IN ('queued', 'sending')` except that very term with its literals,
and a list of bound values (`status IN (?, ?)`) never does. Without it the query
reads the bot's whole history through another index, or the table. PostgreSQL
proves either form from the other, and has statistics besides.

So a query repeats the condition of the index it should read, written as the
index's own SQL writes it: the same Q object, its values as literals."""

from django.db.models import BooleanField, Expression, Q


class IndexCondition(Expression):
    """`condition` (a partial index's, the same Q object) in a query's WHERE, with its
    values written as the index's SQL writes them (the schema editor's literals) instead
    of bound parameters. Its columns name the query's own table, in a subquery too."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, condition: Q):
        super().__init__()
        self.condition = condition
        self.where = None

    def get_source_expressions(self):
        return [self.where]

    def set_source_expressions(self, exprs):
        [self.where] = exprs

    def resolve_expression(
        self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False
    ):
        if self.where is not None:  # resolved in its own query, now in an outer one's
            return super().resolve_expression(query, allow_joins, reuse, summarize, for_save)
        resolved = self.copy()
        resolved.where = self.condition.resolve_expression(
            query, allow_joins, reuse, summarize, for_save
        )
        return resolved

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.where)
        quote = connection.schema_editor().quote_value
        for value in params:
            if "%" in str(value):  # would be read as a placeholder by the driver
                raise ValueError(f"an index condition's value holds %: {value!r}")
        return sql % tuple(quote(value) for value in params), []


def index_condition(condition: Q) -> IndexCondition:
    """The partial index's `condition`, stated in a query so that SQLite can read it."""
    return IndexCondition(condition)
