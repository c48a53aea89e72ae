"""An endpoint's page of deliveries reads its rows in id order from an index of that
endpoint (and status, on a status's tab), on PostgreSQL and on SQLite: a page costs
the same few rows at 1,000,000 deliveries as at 1,000 (docs/performance.md,
bench/webhooks.py). Without it, PostgreSQL sorted every delivery of a status or walked
the primary key back past other endpoints' and other statuses' rows, and SQLite walked
the endpoint's whole history to find its five pending deliveries.

A test-sized table is cheap to scan or sort, so the plan is read, not timed: on
PostgreSQL with sequential scans forbidden (the primary key's backward scan stays
allowed, so the index must beat it), on SQLite as `migrate` leaves it (no ANALYZE,
as in production)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.webhooks import DELIVERIES_PAGE
from forwarding.models import WebhookDelivery, WebhookEndpoint
from messaging.models import Message
from tests.query_plans import plan_without_seqscan_or_sort

OURS_EVERY = 40  # one message in 40 is forwarded to the endpoint shown
FAILED_EVERY = 5  # of those, one in five failed
MESSAGES = 8_000


@pytest.fixture
def endpoint(bot, group, receiver):
    """The endpoint shown: one delivery in 40 of the bot's, among another endpoint's
    (every message); a few of its newest are pending, some failed, the rest delivered."""
    ours = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/ours"))
    busy = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/busy"))
    messages = Message.objects.bulk_create(
        Message(msgid=f"m{i}", bot=bot, conversation=group, direction="in", msgtype="text",
                body={}, search_text=f"消息 {i}", status="received", source="agent")
        for i in range(MESSAGES)
    )  # fmt: skip
    deliveries = []
    for i, message in enumerate(messages):
        deliveries.append(WebhookDelivery(message=message, endpoint=busy, status="delivered"))
        if i % OURS_EVERY == 0:
            n = i // OURS_EVERY
            status = "failed" if n % FAILED_EVERY == 0 else "delivered"
            status = "pending" if i >= MESSAGES - 3 * OURS_EVERY else status
            deliveries.append(WebhookDelivery(message=message, endpoint=ours, status=status))
    WebhookDelivery.objects.bulk_create(deliveries)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE messaging_webhookdelivery")
            cursor.execute("ANALYZE messaging_message")
    return ours


def page_queries(client, bot, endpoint, params: dict) -> list[str]:
    """The deliveries queries the endpoint's page makes for `params` (two when a newer
    page has too few rows left above `after` and the latest page is shown instead)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("console:webhook", args=[bot.pk, endpoint.pk]), params)
    assert response.status_code == 200
    return [
        q["sql"]
        for q in queries
        if 'FROM "messaging_webhookdelivery"' in q["sql"]
        and f"LIMIT {DELIVERIES_PAGE + 1}" in q["sql"]
    ]


def plan(sql: str) -> str:
    if connection.vendor == "postgresql":
        return plan_without_seqscan_or_sort(sql)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def reads_in_order(plan: str, status: bool) -> bool:
    """Whether the plan reads the deliveries from the endpoint's index in id order."""
    if connection.vendor == "postgresql":
        index = "webhook_delivery_tab_idx" if status else "webhook_delivery_page_idx"
        return index in plan and "Sort" not in plan
    # SQLite keys every index by rowid (the id) last: an index on (endpoint_id) alone
    # reads in id order too, so the plan names the columns it searches, not the index.
    [deliveries] = [line for line in plan.splitlines() if "messaging_webhookdelivery" in line]
    searched = "(endpoint_id=? AND status=?" if status else "(endpoint_id=?"
    return searched in deliveries and "TEMP B-TREE" not in plan


def test_every_tab_and_cursor_reads_its_rows_in_order_from_an_index_of_the_endpoint(
    operator_client, bot, endpoint
):
    ids = list(endpoint.deliveries.order_by("-id").values_list("id", flat=True))
    failed = list(
        endpoint.deliveries.filter(status="failed").order_by("-id").values_list("id", flat=True)
    )
    middle, failed_middle = ids[len(ids) // 2], failed[len(failed) // 2]
    cases = [
        {},
        {"before": middle},
        {"after": middle},
        {"status": "failed"},
        {"status": "failed", "before": failed_middle},
        {"status": "failed", "after": failed_middle},
        {"status": "pending"},  # three rows, the rest of the history below them
        {"status": "delivered", "before": middle},
    ]
    misses = {}
    for params in cases:
        for n, sql in enumerate(page_queries(operator_client, bot, endpoint, params), 1):
            shown = plan(sql)
            if not reads_in_order(shown, status="status" in params):
                misses[f"{params}, query {n}"] = shown
    assert not misses, "\n\n".join(f"{case}\n{shown}" for case, shown in misses.items())
