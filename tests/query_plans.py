"""Query plans in tests: whether an index can serve a query, on a test-sized table."""

from django.db import connection


def plan_without_seqscan(sql: str) -> str:
    """PostgreSQL's EXPLAIN of `sql` with sequential scans forbidden: a table of a few
    thousand rows is cheaper to scan, and the plan would say nothing about the index."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN " + sql)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")
