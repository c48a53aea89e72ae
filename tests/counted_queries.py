"""The queries a console page makes, counted around a test client's request."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def get_counting_queries(client, url: str) -> tuple:
    """The response and the queries it made. The log is emptied first: a request empties
    it as it starts, and CaptureQueriesContext keeps only what lies beyond the length the
    log had before (nothing, when an earlier request had made as many queries)."""
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return response, queries.captured_queries
