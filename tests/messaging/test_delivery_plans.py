"""On PostgreSQL, a delivery claim's cost follows the conversations with work waiting,
not the messages queued behind a conversation's head: a bot whose agent is down for a
day leaves a long backlog, and every wake-up of every bot pays for the claim
(bench/claim.py measures it). The plan's own counts show it, whatever the machine's
speed."""

import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation
from messaging import queue_health
from messaging.delivery_claim import claim_due_messages
from messaging.models import Message

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="query plans of PostgreSQL"
)

BACKLOG = 3_000


def queued(bot, conversation, **fields) -> Message:
    return Message(
        bot=bot,
        conversation=conversation,
        direction="out",
        status="queued",
        source="api",
        msgtype="text",
        body={"content": "backlog"},
        **fields,
    )


def plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def test_messages_queued_behind_a_waiting_head_are_not_compared_one_by_one(
    bridge_bot, make_conversation, settings
):
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0
    bridge_bot.rate_limit_per_minute = 10_000
    bridge_bot.save()
    stuck = make_conversation(bridge_bot, "wrStuck")
    retry_later = timezone.now() + timedelta(hours=1)
    Message.objects.bulk_create([queued(bridge_bot, stuck, next_attempt_at=retry_later)])
    Message.objects.bulk_create(queued(bridge_bot, stuck) for _ in range(BACKLOG))
    due = [make_conversation(bridge_bot, f"wrDue{i}") for i in range(5)]
    Message.objects.bulk_create(queued(bridge_bot, conversation) for conversation in due)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")

    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            claimed = claim_due_messages()
        assert [a.message.conversation_id for a in claimed] == [c.pk for c in due]
        claims = [
            q["sql"] for q in queries if "FOR UPDATE" in q["sql"] and "SKIP LOCKED" in q["sql"]
        ]
        nodes = []
        with connection.cursor() as cursor:
            for claim in claims:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + claim)
                [([document],)] = cursor.fetchall()
                nodes += plan_nodes(document["Plan"])
        transaction.set_rollback(True)

    compared = sum(n.get("Rows Removed by Join Filter", 0) for n in nodes)
    probes = max(n["Actual Loops"] for n in nodes)
    # The plan before heads were read from the index compared every pair of the
    # backlog (about 4.5 million rows removed by a join filter), or probed the index
    # once per queued message.
    assert compared < BACKLOG, compared
    assert probes < BACKLOG, probes


def test_the_oldest_due_message_behind_blocked_chats_reads_each_message_in_delivery_once(
    bot, make_conversation
):
    """A bot's agent is down: its two group chats' first messages wait for their retry, the
    backlog due behind them, and the bot's 500 contacts have nothing to send. Past the walk
    of `overdue_since` (WALK), the heads of the bot's conversations are looked for. Looked
    up conversation by conversation, by id, PostgreSQL walked the primary key forward for
    each contact when messages in delivery were most of the table, reading the whole
    backlog 500 times (1.3 s at 10,000 messages; /readyz, /metrics and the dashboard ask
    on every call). Grouped from the bot's messages in delivery, each is read once."""
    chats = [make_conversation(bot, f"wrDown{n}") for n in range(2)]
    Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wmIdle{n}", kind="user") for n in range(500)
    )
    retry_later = timezone.now() + timedelta(hours=1)
    Message.objects.bulk_create(
        [queued(bot, chat, attempt_count=1, next_attempt_at=retry_later) for chat in chats]
    )
    Message.objects.bulk_create(queued(bot, chats[i % 2]) for i in range(BACKLOG))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
        cursor.execute("ANALYZE conversations_conversation")

    with CaptureQueriesContext(connection) as queries:
        assert queue_health.overdue_since() == {}

    [heads] = [q["sql"] for q in queries if 'AS "since"' in q["sql"] and "GROUP BY" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + heads)
        [([document],)] = cursor.fetchall()
    read = sum(
        (n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"]
        for n in plan_nodes(document["Plan"])
        if n.get("Relation Name") == "messaging_message"
    )
    assert read < 3 * BACKLOG, json.dumps(document["Plan"], indent=1)[:6000]
