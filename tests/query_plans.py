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


def plan_without_seqscan_or_sort(sql: str) -> str:
    """`plan_without_seqscan`, sorts also forbidden: for a query that must read an index in
    its ORDER BY's order. Once a test-sized table's statistics are known (an autovacuum's
    ANALYZE, at a moment no test chooses) a bitmap scan of the index and a sort of its few
    rows is cheaper than reading the index in order, which an unknown table got. A plan
    that cannot avoid a sort still shows one."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_sort = off")
        try:
            return plan_without_seqscan(sql)
        finally:
            cursor.execute("RESET enable_sort")


def rows_read(sql: str, table: str = "messaging_message") -> int:
    """How many rows of `table` the query read (returned or filtered out, in every scan
    of it), by EXPLAIN ANALYZE, sequential scans forbidden: a test-sized table is
    cheaper to scan."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            [[plan]] = cursor.fetchall()[0]
        finally:
            cursor.execute("RESET enable_seqscan")

    def read(node) -> int:
        own = 0
        if node.get("Relation Name") == table:
            own = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            own += node.get("Rows Removed by Index Recheck", 0)
            own *= node["Actual Loops"]
        return own + sum(read(child) for child in node.get("Plans", []))

    return read(plan["Plan"])
