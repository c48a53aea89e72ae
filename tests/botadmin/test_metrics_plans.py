"""The scrape's queue depth reads the queue's partial index, not the message history:
on SQLite too, which uses it only because the query states its condition
(botadmin.partial_indexes; before, it read the whole table), and on PostgreSQL with sequential scans forbidden."""

import pytest
from django.db import connection

from botadmin.metrics import DatabaseCollector
from messaging.models import Message
from tests.query_plans import explain

HISTORY = 3_000
# Either index of the queue will do (SQLite reads msg_pending_idx for status = 'queued'
# and groups the queue's rows; PostgreSQL chooses by its statistics).
QUEUE = {"msg_bot_in_delivery_idx", "msg_pending_idx"}


@pytest.fixture
def history(bot, group):
    Message.objects.bulk_create(
        Message(
            msgid=f"h{i}",
            bot=bot,
            conversation=group,
            direction="out" if i % 3 == 0 else "in",
            msgtype="text",
            body={},
            status="sent" if i % 3 == 0 else "received",
        )
        for i in range(HISTORY)
    )
    for status in ("queued", "sending", "failed"):
        Message.objects.create(
            bot=bot, conversation=group, direction="out", msgtype="text", body={}, status=status
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE messaging_message")


def test_queue_depth_reads_the_queues_partial_index(history, bot):
    seen = []

    def record(execute, sql, sql_params, many, context):
        seen.append((sql, sql_params))
        return execute(sql, sql_params, many, context)

    with connection.execute_wrapper(record):
        families = {family.name: family for family in DatabaseCollector().collect()}
    [depth] = [
        s.value for s in families["botadmin_queue_depth"].samples if s.labels["bot"] == bot.name
    ]
    assert depth == 1
    [(sql, params)] = [
        (sql, p) for sql, p in seen if 'MIN("messaging_message"."created_at")' in sql
    ]

    plan = explain(sql, params)

    assert any(index in plan for index in QUEUE), plan
    assert "SCAN messaging_message\n" not in plan + "\n" and "Seq Scan" not in plan, plan
