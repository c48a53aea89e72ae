"""Each count of the dashboard reads its bots' own partial index, on SQLite too, so the
page costs the same few reads whatever the length of the history (docs/performance.md).

SQLite has no statistics of a production database (nothing runs ANALYZE), so its plans
follow from the schema alone: a partial index is used only when the query's WHERE
states the index's condition term for term (botadmin.partial_indexes). The plans are
asked with the page's own SQL and bound parameters, as the page runs it. PostgreSQL
is asked the same with statistics of a history, sequential scans forbidden (a test
table is cheaper to scan)."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from botadmin.reasons import Reason
from console.dashboard import FORWARDING_GRACE
from messaging.delivery_caps import HELD
from messaging.models import DeliveryAttempt, Message
from tests.query_plans import explain

DASHBOARD = reverse("console:dashboard")
HISTORY = 3_000  # sent or received, ordinary; enough for PostgreSQL to prefer an index

# The count (how to tell its query: count_of) and the index SQLite must read for it.
COUNTS = {
    "waiting": "msg_bot_in_delivery_idx",
    "retrying": "msg_bot_retrying_idx",
    "held": "msg_bot_held_idx",
    "failed (24 h)": "msg_bot_undelivered_at_idx",
    "not forwarded": "msg_bot_forward_pending_idx",
    "oldest due": "msg_bot_due_idx",
    "held by a daily cap": "msg_bot_due_idx",
    "waiting for a paused bot": "msg_bot_in_delivery_idx",
    "agent last answered": "msg_bot_attempted_at_idx",
}
# Asked in the same query as the agent's last answer: the bot's newest inbound message,
# the first entry of the bot's inbound messages by time. Asked of each due message
# the oldest one's walk meets: whether an older message of its conversation is in its way.
BESIDES = {
    "agent last answered": {"msg_bot_inbound_at_idx"},
    "oldest due": {"msg_conversation_delivery_idx", "msg_conversation_uncertain_idx"},
}
# Read with the table's rows (what they check is not in the index): the index, not all of it.
READ_WITH_ROWS = {"oldest due", "held by a daily cap"}
# PostgreSQL chooses among small partial indexes by its statistics, which vary from run
# to run at this size: any index of the queue, or of the pending forwards, will do
# (never one of the history).
QUEUE = {
    "msg_bot_in_delivery_idx",
    "msg_bot_retrying_idx",
    "msg_bot_held_idx",
    "msg_bot_due_idx",
    "msg_pending_idx",
}
ALSO_ON_POSTGRESQL = {
    "waiting": QUEUE,
    "retrying": QUEUE,
    "held": QUEUE,
    "oldest due": QUEUE,
    "held by a daily cap": QUEUE,
    "waiting for a paused bot": QUEUE,
    "not forwarded": {"msg_forward_pending_idx"},
}


def count_of(sql: str, params) -> str | None:
    """Which of COUNTS a query of the page is (None: another)."""
    if '"forward_pending"' in sql:
        return "not forwarded"
    if 'AS "overdue_since"' in sql:
        return "oldest due"
    if '"last_error" LIKE' in sql.replace("::text", ""):
        return "held by a daily cap"
    if '"paused_at" IS NOT NULL' in sql:
        return "waiting for a paused bot"
    if 'AS "answered_at"' in sql:
        return "agent last answered"
    if "COUNT(*) FROM (SELECT" not in sql:
        return None
    if "'failed'" in sql:
        return "failed (24 h)"
    if '"next_attempt_at" >' in sql:
        return "held"
    if "'queued'" in sql:
        return "retrying" if '"attempt_count" >' in sql else "waiting"
    return None


@pytest.fixture
def history(bot, other_bot, group, other_group, operator, make_bot, make_conversation):
    """A history of ordinary messages on two bots the operator sees, and one of each
    kind the dashboard counts, so that every count has a row to find (a paused bot's
    queue on a third)."""
    other_bot.operators.add(operator)
    now = timezone.now()
    paused = make_bot(name="paused", paused_at=now)
    paused.operators.add(operator)
    Message.objects.create(
        bot=paused,
        conversation=make_conversation(paused, "wrPaused"),
        direction="out",
        status="queued",
        msgtype="text",
        body={},
    )
    Message.objects.bulk_create(
        Message(
            msgid=f"h{i}",
            bot=bot if i % 4 else other_bot,
            conversation=group if i % 4 else other_group,
            direction="out" if i % 3 == 0 else "in",
            msgtype="text",
            body={},
            search_text=f"普通消息 {i}",
            status="sent" if i % 3 == 0 else "received",
            source="api" if i % 3 == 0 else "agent",
            attempt_count=1 if i % 3 == 0 else 0,
        )
        for i in range(HISTORY)
    )
    DeliveryAttempt.objects.bulk_create(  # each sent once, answered: as a history has them
        DeliveryAttempt(message=message, started_at=now, outcome="sent", http_status=200)
        for message in Message.objects.filter(direction="out", status="sent")
    )
    rows = {
        "queued": {"direction": "out", "status": "queued"},
        "retrying": {"direction": "out", "status": "queued", "attempt_count": 2},
        "held": {"direction": "out", "status": "queued", "next_attempt_at": now + FORWARDING_GRACE},
        "capped": {
            "direction": "out",
            "status": "queued",
            "next_attempt_at": now + dt.timedelta(hours=9),
            "last_error": Reason(HELD, cap="WeCom's cap", until="00:00", zone="China time"),
        },
        "sending": {"direction": "out", "status": "sending", "attempt_count": 1},
        "failed": {"direction": "out", "status": "failed", "attempt_count": 1},
        "uncertain": {"direction": "out", "status": "uncertain", "attempt_count": 1},
        "stuck": {"direction": "in", "status": "received", "forward_pending": True},
    }
    for name, fields in rows.items():
        Message.objects.create(
            bot=bot, conversation=group, msgtype="text", body={}, search_text=name, **fields
        )
    Message.objects.filter(forward_pending=True).update(created_at=now - 2 * FORWARDING_GRACE)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def plans_of_the_page(client, params: dict) -> dict[str, str]:
    """{count: its query's plan} of one view of the dashboard."""
    seen = []

    def record(execute, sql, sql_params, many, context):
        seen.append((sql, sql_params))
        return execute(sql, sql_params, many, context)

    with connection.execute_wrapper(record):
        assert client.get(DASHBOARD, params).status_code == 200
    plans = {}
    for sql, sql_params in seen:
        if name := count_of(sql, sql_params or ()):
            plans[name] = explain(sql, sql_params)
    return plans


def sorts_the_bots_attempts(plan: str) -> bool:
    """SQLite: a temporary sort beside the walk of msg_bot_attempted_at_idx (joined and
    ordered by the attempts' message id, it sorted all the bot's attempts to find the
    newest instead of stopping at the first)."""
    rows = [line.split(" ", 2) for line in plan.splitlines()]
    walks = {parent for _id, parent, detail in rows if "msg_bot_attempted_at_idx" in detail}
    return any("TEMP B-TREE" in detail for _id, parent, detail in rows if parent in walks)


def indexes_of_messages(plan: str) -> set[str]:
    return set(re.findall(r"\b(msg_\w+|messaging_message_\w+)", plan))


def reads_only_its_index(name: str, plan: str) -> bool:
    read = indexes_of_messages(plan)
    allowed = {COUNTS[name], *BESIDES.get(name, ())}
    if connection.vendor == "sqlite":
        # The counts from the index alone (its key holds what they read).
        covering = name not in READ_WITH_ROWS and name != "agent last answered"
        index = f"COVERING INDEX {COUNTS[name]}" if covering else COUNTS[name]
        return index in plan and read <= allowed and not SCAN.search(plan)
    allowed |= ALSO_ON_POSTGRESQL.get(name, set())
    return bool(read) and read <= allowed and "Seq Scan" not in plan


# A full scan of a table or index (SQLite): only the page's own count wrapper may.
SCAN = re.compile(r"\bSCAN (?!subquery\b)")


@pytest.mark.parametrize("scope", ["all bots", "one bot"])
def test_each_count_of_the_dashboard_reads_its_partial_index(operator_client, history, bot, scope):
    plans = plans_of_the_page(operator_client, {"bot": bot.pk} if scope == "one bot" else {})

    assert set(plans) == set(COUNTS), plans
    misses = {name: plan for name, plan in plans.items() if not reads_only_its_index(name, plan)}
    assert not misses, "\n\n".join(
        f"{name}: {COUNTS[name]}\n{plan}" for name, plan in misses.items()
    )
    if connection.vendor == "sqlite":
        assert not sorts_the_bots_attempts(plans["agent last answered"]), plans


def test_the_counts_read_through_the_partial_indexes_are_right(
    operator_client, history, bot, group, make_bot, make_conversation, make_message, make_attempt
):
    """Each count has rows just outside it: an untried queued message is waiting but not
    retrying, a sending one is neither retrying nor failed, a failure of two days ago is
    not in the 24 hours, a fresh inbound message is within forwarding's grace, a tried
    message without an answer is no contact, and a bot the operator does not see has
    one of each."""
    now = timezone.now()
    make_message(group, direction="out", status="failed", created_at=now - dt.timedelta(days=2))
    fresh = make_message(group, direction="in", text="刚到")
    Message.objects.filter(pk=fresh.pk).update(forward_pending=True)
    answered_at = now - dt.timedelta(minutes=5)
    make_attempt(
        make_message(group, direction="out", attempt_count=1),
        http_status=502,
        started_at=answered_at,
    )
    unanswered = make_message(group, direction="out", status="failed", attempt_count=1)
    make_attempt(unanswered, outcome="failed", http_status=None)
    stranger = make_conversation(make_bot(name="stranger"), "wrStranger")
    for status in ("queued", "failed"):
        make_message(stranger, direction="out", status=status, attempt_count=3)
    stuck = make_message(stranger, direction="in")
    Message.objects.filter(pk=stuck.pk).update(
        forward_pending=True, created_at=now - dt.timedelta(hours=1)
    )

    context = operator_client.get(DASHBOARD, {"bot": bot.pk}).context
    health = context["health"]
    [agent] = context["agents"]

    # queued, retrying, held, capped and sending (history); the queued one tried before;
    # the ones not tried yet that wait until a time to come, one of them by a daily cap
    assert (health["waiting"], health["retrying"], health["held"]) == (5, 1, 2)
    assert (health["held_by_cap"], health["held_by_pause"]) == (1, 0)
    # failed and uncertain (history), and the unanswered one
    assert health["failed_today"] == 3
    assert health["unforwarded"] == 1
    assert health["oldest_queued_at"] is not None
    assert agent.bot.answered_at == answered_at


@pytest.fixture
def a_bot_that_only_sends(bot, group, make_bot, make_message, operator):
    """A bot that sends every message (alerts), beside 20 bots that never sent nor were
    reported anything, all seen by the operator; one message was reported to it, a week
    ago. Analyzed: PostgreSQL estimates each bot's walk from these statistics."""
    for n in range(20):
        make_bot(name=f"quiet-{n:02}").operators.add(operator)
    reported = make_message(group, direction="in", text="收到")
    Message.objects.filter(pk=reported.pk).update(created_at=timezone.now() - dt.timedelta(days=7))
    sent = Message.objects.bulk_create(
        Message(
            msgid=f"a{i}",
            bot=bot,
            conversation=group,
            direction="out",
            msgtype="text",
            body={},
            status="sent",
            source="api",
            attempt_count=1,
        )
        for i in range(HISTORY)
    )
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(message=message, started_at=timezone.now(), outcome="sent")
        for message in sent
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return Message.objects.get(pk=reported.pk)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans of PostgreSQL")
def test_the_agents_last_answer_is_found_without_walking_every_message(
    operator_client, a_bot_that_only_sends
):
    """Beside a bot that sends every message, PostgreSQL estimated each bot's walk from
    the one that sent, and looked for a quiet bot's newest tried message by walking the
    whole message table back through the primary key (111 ms for 21 bots at 10,000
    messages, growing with the table, on every view of the dashboard). By time, only
    msg_bot_attempted_at_idx serves the walk."""
    plan = plans_of_the_page(operator_client, {})["agent last answered"]

    assert "msg_bot_attempted_at_idx" in plan and "messaging_message_pkey" not in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans of PostgreSQL")
def test_the_last_reported_message_is_found_without_scanning_every_message(
    operator_client, a_bot_that_only_sends, bot
):
    """Inbound messages nearly none, PostgreSQL expected a bot's newest one only after all
    its outbound messages in the bot's log (msg_bot_log_idx), as it is for a bot that only
    sends, and scanned the whole message table for each bot instead (22 ms a bot at 100,000
    messages, 2.0-2.4 s for 42 bots at 235,000, on every view of the dashboard:
    docs/performance.md note 28). Asked as the page asks it, sequential scans allowed:
    one probe a bot of an index of inbound messages only."""
    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        context = operator_client.get(DASHBOARD).context
    [(sql, params)] = [(sql, p) for sql, p in seen if 'AS "reported_at"' in sql]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "msg_bot_inbound_at_idx" in plan, plan
    assert "Seq Scan on messaging_message" not in plan and "msg_bot_log_idx" not in plan, plan
    agents = {agent.bot.pk: agent for agent in context["agents"]}
    assert agents[bot.pk].bot.reported_at == a_bot_that_only_sends.created_at
