"""Query plans in tests: whether an index can serve a query, on a test-sized table."""

from django.db import connection


def explain(sql: str, params) -> str:
    """The plan of `sql` run with `params`, as the page runs it: SQLite's (each step's
    id, parent and detail), or PostgreSQL's with sequential scans forbidden."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return "\n".join(f"{row[0]} {row[1]} {row[3]}" for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")


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
