"""Counting the queries of a test-client request, as a list fixed when the request ends.

Django's CaptureQueriesContext keeps two indexes into `connection.queries_log` and
slices the log only when its queries are read. The next request made outside a
capture clears the log (`request_started` → `reset_queries`), so a count read after
it is 0, or short: "the second page costs as many queries as the first" then compared
0 with 0. A capture nested in another reconnects that reset when it ends, and the log
is a deque of 9,000 entries whose indexes shift once it is full.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.test.utils import CaptureQueriesContext


class CountedQueries(list):
    """The queries (dicts with "sql" and "time") of one request, and its response."""

    response = None


@contextmanager
def counting_queries(*, expect_some: bool = True) -> Iterator[CountedQueries]:
    """Yields a list filled with the queries made in the block when the block ends.
    Fails when the block made none and `expect_some` (a page that reads nothing, or a
    count lost), when the log overflowed, or when it runs inside another capture."""
    assert not connection.force_debug_cursor, (
        "counting_queries inside another query capture: clearing the log would empty it"
    )
    connection.queries_log.clear()
    queries = CountedQueries()
    with CaptureQueriesContext(connection) as captured:
        yield queries
    assert len(connection.queries_log) < connection.queries_limit, (
        f"{connection.queries_limit} queries or more: the log dropped the first ones"
    )
    queries.extend(captured.captured_queries)
    assert queries or not expect_some, "no query counted"


def get_counting_queries(client, url, data=None, **extra) -> CountedQueries:
    """The queries a GET of `url` makes, counted from an empty log; `.response` is the
    response."""
    with counting_queries() as queries:
        queries.response = client.get(url, data, **extra)
    return queries
