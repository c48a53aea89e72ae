"""The scrape's queue figures read the queue's partial indexes, not the message history:
on SQLite too, which uses them only because the query states their condition
(botadmin.partial_indexes; before, it read the whole table), and on PostgreSQL with
sequential scans forbidden."""

import pytest
from django.db import connection

from botadmin.metrics import DatabaseCollector
from messaging.models import Message
from tests.query_plans import explain

HISTORY = 3_000
# Any index of the queue will do (SQLite reads msg_pending_idx for status = 'queued'
# and groups the queue's rows; PostgreSQL chooses by its statistics).
QUEUE = {"msg_bot_in_delivery_idx", "msg_pending_idx", "msg_bot_due_idx"}


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


def queries_of_a_scrape() -> tuple[dict, list]:
    seen = []

    def record(execute, sql, sql_params, many, context):
        seen.append((sql, sql_params))
        return execute(sql, sql_params, many, context)

    with connection.execute_wrapper(record):
        families = {family.name: family for family in DatabaseCollector().collect()}
    return families, seen


def reads_the_queue(plan: str, indexes: set[str]) -> bool:
    return any(index in plan for index in indexes) and not (
        "SCAN messaging_message\n" in plan + "\n" or "Seq Scan on messaging_message" in plan
    )


def test_queue_depth_reads_the_queues_partial_index(history, bot):
    families, seen = queries_of_a_scrape()
    [depth] = [
        s.value for s in families["botadmin_queue_depth"].samples if s.labels["bot"] == bot.name
    ]
    assert depth == 1
    [(sql, params)] = [(sql, p) for sql, p in seen if "'sending'" in sql and 'AS "n"' in sql]

    plan = explain(sql, params)

    assert reads_the_queue(plan, QUEUE), plan


def test_the_oldest_due_message_and_the_held_ones_are_read_from_the_queue(history, bot):
    """Each bot's walk from its longest due message reads msg_bot_due_idx (and asks, of each
    message it meets, msg_conversation_delivery_idx and msg_conversation_uncertain_idx); the
    count of those waiting until a time to come reads it too, or SQLite, grouping by bot,
    the queue's other index."""
    families, seen = queries_of_a_scrape()
    [oldest] = [(sql, p) for sql, p in seen if 'AS "overdue_since"' in sql]
    [held] = [(sql, p) for sql, p in seen if 'AS "daily_cap"' in sql]
    [age] = [
        s.value
        for s in families["botadmin_queue_oldest_age_seconds"].samples
        if s.labels["bot"] == bot.name
    ]
    assert 0 <= age < 60

    for (sql, params), indexes in ((oldest, {"msg_bot_due_idx"}), (held, QUEUE)):
        plan = explain(sql, params)
        assert reads_the_queue(plan, indexes), plan
