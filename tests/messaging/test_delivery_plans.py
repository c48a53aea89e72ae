"""On PostgreSQL, a delivery claim's cost follows the conversations with work waiting,
not the messages queued behind a conversation's head: a bot whose agent is down for a
day leaves a long backlog, and every wake-up of every bot pays for the claim
(bench/claim.py measures it). The plan's own counts show it, whatever the machine's
speed."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

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
