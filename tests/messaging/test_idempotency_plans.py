"""A send with an Idempotency-Key finds the key's message through the unique index
of (bot, idempotency_key), in either form it may be stored in (the key, or as releases
before commit 417e1a5 stored a quoted header: `messaging.sending`): one query, at any
number of the bot's messages, never a walk of the bot's history in id order.

A test-sized table is cheap to scan, so the plan is read, not timed: on PostgreSQL with
sequential scans forbidden (the bot's id-ordered indexes stay allowed, so the unique
index must beat them)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import Message
from tests.query_plans import plan_without_seqscan

MESSAGES = 5_000

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the plan of PostgreSQL's partial unique index"
)


def test_the_key_is_looked_up_in_both_forms_by_one_query_on_the_unique_index(client, bot, group):
    Message.objects.bulk_create(
        Message(msgid=f"m{i}", bot=bot, conversation=group, direction="out", msgtype="text",
                body={}, status="sent", source="api", idempotency_key=f"order-{i}")
        for i in range(MESSAGES)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")

    with CaptureQueriesContext(connection) as queries:
        answer = client.post(
            "/api/send",
            {"msgtype": "text", "text": {"content": "hi"}},
            content_type="application/json",
            query_params={"secret": bot.secret, "conversation_id": group.conversation_id},
            headers={"Idempotency-Key": '"order-new"'},
        )

    assert answer.json()["errcode"] == 0
    lookups = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and '"idempotency_key" IN' in query["sql"]
    ]
    assert len(lookups) == 1, lookups
    assert "'order-new'" in lookups[0] and "'\"order-new\"'" in lookups[0]
    plan = plan_without_seqscan(lookups[0])
    assert "message_idempotency_key_unique" in plan, plan
