"""tests.counted_queries: a request's count survives the next request, and a count of
nothing fails instead of comparing 0 with 0."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.counted_queries import counting_queries, get_counting_queries

DASHBOARD = reverse("console:dashboard")


def test_a_count_read_after_the_next_request_is_still_the_requests(client, superuser):
    client.force_login(superuser)
    with CaptureQueriesContext(connection) as captured:
        client.get(DASHBOARD)
    client.get(DASHBOARD)  # request_started empties the log
    counted = get_counting_queries(client, DASHBOARD)
    client.get(DASHBOARD)

    assert len(captured) == 0  # Django's capture reads the emptied log
    assert len(counted) > 0 and counted.response.status_code == 200


def test_a_count_starts_from_an_empty_log(client, superuser):
    client.force_login(superuser)
    client.get(DASHBOARD)
    fill = [{"sql": "SELECT 1", "time": "0.000"}] * connection.queries_limit
    connection.queries_log.extend(fill)  # full: its length no longer grows
    with CaptureQueriesContext(connection) as captured:
        client.get(DASHBOARD)
    connection.queries_log.extend(fill)

    counted = get_counting_queries(client, DASHBOARD)

    assert len(captured) == 0 and len(counted) > 0


def test_a_block_that_counts_nothing_fails(db):
    with pytest.raises(AssertionError, match="no query counted"):
        with counting_queries():
            pass
    with counting_queries(expect_some=False) as none:
        pass
    assert none == []


def test_a_count_inside_another_capture_fails(db):
    with CaptureQueriesContext(connection), pytest.raises(AssertionError, match="inside"):
        with counting_queries():
            pass
