"""Delivery workers side by side: interleavings that once lost a worker's answers.

The interleaving is forced (each worker stopped at a chosen point until the other got
there), so the test fails every time the race is there, not once in a while."""

import pytest
from django.db import connection

from conversations.models import Bot
from messaging.delivery_claim import claim_due_messages
from messaging.delivery_send import send_and_record
from messaging.models import Message
from tests.db_faults import updates_wait_at_gate

TEXT = {"msgtype": "text", "text": {"content": "hello"}}


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks: SQLite runs writing transactions one after the other, no deadlock",
)
def test_workers_pausing_the_same_bots_in_opposite_orders_both_record_their_answers(
    transactional_db, agent, make_bot, make_conversation, queue_message, clock, monkeypatch
):
    # Each worker writes its batch's answers in one go.
    monkeypatch.setattr("messaging.delivery_send.RECORD_EVERY_SECONDS", 3600)
    bots = [
        make_bot(agent_url=agent.url, agent_token=agent.token, rate_limit_per_minute=10_000)
        for _ in range(2)
    ]
    agent.token = "a-different-token-neither-bot-knows"  # each send: pause the bot
    # Two conversations of each bot; worker A sends to the first bot first, B to the second.
    a_ids, b_ids = [], []
    for bot in bots:
        a_ids.append(queue_message(make_conversation(bot, f"wrA{bot.pk}"), TEXT).pk)
        b_ids.insert(0, queue_message(make_conversation(bot, f"wrB{bot.pk}"), TEXT).pk)
    order = {pk: n for n, pk in enumerate(a_ids + b_ids)}
    a = sorted(claim_due_messages(clock, ids=a_ids), key=lambda x: order[x.message.pk])
    b = sorted(claim_due_messages(clock, ids=b_ids), key=lambda x: order[x.message.pk])
    assert [x.message.bot_id for x in a] == [bots[0].pk, bots[1].pk]
    assert [x.message.bot_id for x in b] == [bots[1].pk, bots[0].pk]
    with updates_wait_at_gate(Bot) as gate:
        # Each stops after pausing its first bot, that bot's row locked.
        errors = gate.race(lambda: send_and_record(a, clock), lambda: send_and_record(b, clock))

    assert errors == []  # no "deadlock detected": neither worker lost its answers
    assert set(Message.objects.values_list("status", flat=True)) == {"failed"}
    assert all(bot.paused_at for bot in Bot.objects.all())
