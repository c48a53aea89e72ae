"""On PostgreSQL, each filter of the audit log and search reads an index in page
order, so a page costs the same at 1,000,000 messages as at 10,000
(docs/performance.md). A test-sized table is cheaper to scan: sequential scans are
forbidden, so a plan shows whether an index can serve the page at all; the
primary key's backward scan stays allowed, so the named index must beat it.

On SQLite, which has no statistics (nothing runs ANALYZE), a status filter reads the
status index only when the query states the index's condition (msg_status_other_idx,
messaging.models.NOT_SENT_OR_RECEIVED)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from conversations.models import Conversation
from messaging.models import Message
from tests.query_plans import plan_without_seqscan, plan_without_seqscan_or_sort, rows_read

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="query plans of PostgreSQL"
)

AUDIT = reverse("console:audit")
SEARCH = reverse("console:search")
ORDINARY = 10_000  # sent by the API or received; text; no sender on outbound


@pytest.fixture
def busy_log(bot, group, other_bot, make_conversation, make_message, operator):
    other_bot.operators.add(operator)
    quiet = make_conversation(bot, "wrQuiet", name="安静的群")
    Message.objects.bulk_create(
        Message(
            msgid=f"m{i}",
            bot=bot,
            conversation=group,
            direction="out" if i % 3 == 0 else "in",
            msgtype="text",
            body={},
            search_text=f"普通消息 {i}",
            sender_id="" if i % 3 == 0 else f"wmUser{i % 50}",
            sender_name="" if i % 3 == 0 else f"用户{i % 50}",
            status="sent" if i % 3 == 0 else "received",
            source="api" if i % 3 == 0 else "agent",
        )
        for i in range(ORDINARY)
    )
    rare = {"direction": "out", "text": "少见"}
    make_message(quiet, **rare)
    make_message(group, **rare, status=Message.Status.FAILED)
    make_message(group, **rare, msgtype="markdown")
    make_message(group, **rare, source="console")
    make_message(group, direction="in", text="少见", sender_id="wmRare", sender_name="稀客王小明")
    # One that came without a name, found by its sender's synced contact's.
    make_conversation(bot, "wmRareToo", kind="user", name="稀客李四")
    make_message(group, direction="in", text="少见", sender_id="wmRareToo")
    make_message(make_conversation(other_bot, "wrRival"), **rare)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE messaging_message")
    return quiet


def received_in(conversations: list[Conversation]) -> None:
    """ORDINARY received messages, taking turns among `conversations` (one bot's)."""
    Message.objects.bulk_create(
        Message(
            msgid=f"m{i}",
            bot_id=conversations[0].bot_id,
            conversation=conversations[i % len(conversations)],
            direction="in",
            msgtype="text",
            body={},
            status="received",
            source="agent",
        )
        for i in range(ORDINARY)
    )


def analyze(*tables: str) -> None:
    """Statistics as a production table has them (autovacuum's ANALYZE comes when it will)."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def probing_messages(queries: CaptureQueriesContext, table: str) -> str:
    """The one query that reads rows of `table`, each with a probe of the messages (not
    one asking whether a conversation has any: `EXISTS`)."""
    [sql] = [
        q["sql"]
        for q in queries
        if f'FROM "{table}"' in q["sql"]
        and "messaging_message" in q["sql"]
        and "EXISTS" not in q["sql"]
    ]
    return sql


def plan_of_the_page(client, path: str, params: dict) -> str:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, params)
    assert response.status_code == 200 and response.context["page"].rows
    [sql] = [
        q["sql"]
        for q in queries
        if 'FROM "messaging_message"' in q["sql"] and "LIMIT 51" in q["sql"]
    ]
    return plan_without_seqscan(sql)


@postgresql_only
def test_each_filter_reads_its_index(operator_client, busy_log, bot, other_bot):
    three_days_ago = timezone.now() - dt.timedelta(days=3)
    day = timezone.localtime(three_days_ago).date()  # the date filters read TIME_ZONE's dates
    Message.objects.filter(msgtype="markdown").update(created_at=three_days_ago)
    cases = [
        (AUDIT, {"status": "failed"}, "msg_status_other_idx"),
        (AUDIT, {"msgtype": "markdown"}, "msg_msgtype_idx"),
        (AUDIT, {"source": "console"}, "msg_source_idx"),
        (AUDIT, {"conversation": "wrQuiet"}, "msg_history_idx"),
        (AUDIT, {"bot": other_bot.pk}, "msg_bot_idx"),
        (AUDIT, {"bot": bot.pk, "date_from": day, "date_to": day}, "msg_bot_log_idx"),
        (SEARCH, {"sender": "wmRare"}, "msg_sender_idx"),
        (SEARCH, {"sender": "稀客王"}, "msg_sender_trgm_idx"),
        (SEARCH, {"sender": "稀客李"}, "msg_sender_idx"),
        (SEARCH, {"q": "少见", "status": "failed"}, "msg_status_other_idx"),
    ]
    misses = {}
    for path, params, index in cases:
        plan = plan_of_the_page(operator_client, path, params)
        if index not in plan:
            misses[f"{path} {params}: {index}"] = plan
    assert not misses, "\n\n".join(f"{case}\n{plan}" for case, plan in misses.items())


@postgresql_only
def test_the_timeline_pages_read_the_timeline_index(operator_client, busy_log, bot, group):
    """The latest page, an older one and a newer one: each a range of msg_timeline_idx."""
    url = reverse("console:history", args=[bot.pk, group.pk])
    middle = Message.objects.filter(conversation=group).order_by("id")[ORDINARY // 2].pk
    misses = {}
    for params in ({}, {"before": middle}, {"after": middle}):
        with CaptureQueriesContext(connection) as queries:
            assert operator_client.get(url, params).status_code == 200
        [sql] = [q["sql"] for q in queries if "LIMIT 51" in q["sql"]]
        plan = plan_without_seqscan_or_sort(sql)
        if "msg_timeline_idx" not in plan or "Sort" in plan:
            misses[str(params)] = plan
    assert not misses, "\n\n".join(f"{case}\n{plan}" for case, plan in misses.items())


@pytest.mark.skipif(connection.vendor != "sqlite", reason="query plans of SQLite")
@pytest.mark.parametrize(
    "path, params",
    [
        (AUDIT, {"status": "failed"}),
        (SEARCH, {"q": "少见", "status": "failed"}),
    ],
)
def test_a_status_filter_reads_the_status_index_on_sqlite(operator_client, busy_log, path, params):
    """As the page runs it, with bound parameters (SQLite compares those with the index's
    condition): the status index in id order, not the bots' whole history."""
    seen = []

    def record(execute, sql, sql_params, many, context):
        seen.append((sql, sql_params))
        return execute(sql, sql_params, many, context)

    with connection.execute_wrapper(record):
        response = operator_client.get(path, params)
    assert response.status_code == 200 and response.context["page"].rows
    [(sql, sql_params)] = [(sql, p) for sql, p in seen if "LIMIT 51" in sql]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, sql_params)
        plan = "\n".join(row[3] for row in cursor.fetchall())

    assert "msg_status_other_idx" in plan and "TEMP B-TREE" not in plan, plan


@postgresql_only
def test_the_conversation_list_finds_each_newest_message_through_the_timeline_index(
    operator_client, bot, make_conversation
):
    """A bot whose messages are all in a few group chats, beside contacts who never wrote
    (synced users of an alerting bot): PostgreSQL estimated each conversation's probe from
    the few conversations with messages, and looked for a contact's newest message by
    walking the whole message table back through the primary key. The conversation list
    then ran for minutes (200,000 messages, 20,000 contacts) and held a web thread and the
    concurrent index builds of `migrate` as long. Ordered by the timeline key, only the
    timeline index serves the probe: one descent per conversation."""
    busy = [make_conversation(bot, f"wrBusy{n}") for n in range(2)]
    Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wmQuiet{n}", kind="user", name=f"用户{n}")
        for n in range(500)
    )
    received_in(busy)
    analyze("messaging_message", "conversations_conversation")

    with CaptureQueriesContext(connection) as queries:
        response = operator_client.get(
            reverse("console:conversations", args=[bot.pk]), {"kind": "user"}
        )

    assert response.status_code == 200
    plan = plan_without_seqscan(probing_messages(queries, "conversations_conversation"))
    assert "msg_timeline_idx" in plan and "messaging_message_pkey" not in plan, plan
    # The page of those who never wrote: cut by the database, a probe of a message each.
    [page] = [
        q["sql"]
        for q in queries
        if "NOT EXISTS" in q["sql"]
        and 'ORDER BY "conversations_conversation"."name_sort_key"' in q["sql"]
    ]
    page_plan = plan_without_seqscan(page)
    assert "messaging_message_pkey" not in page_plan, page_plan


@postgresql_only
def test_the_console_finds_each_bots_newest_message_through_the_bots_log_index(
    operator_client, bot, group, make_bot, operator
):
    """The console's first page opens the bot with the newest message. Beside a bot that
    holds every message, bots without any (a new bot, one that only sends now and then):
    PostgreSQL estimated each bot's probe from the one bot with messages and, ordered by
    id, looked for an empty bot's newest message by walking the whole message table back
    through the primary key (2.2 s for 41 bots at 200,000 messages). Ordered by the
    creation time, only msg_bot_log_idx serves it: one descent per bot."""
    for n in range(20):
        make_bot(name=f"idle-{n:02}").operators.add(operator)
    received_in([group])
    analyze("messaging_message", "conversations_bot")

    with CaptureQueriesContext(connection) as queries:
        response = operator_client.get(reverse("console:index"))

    assert response["Location"] == reverse("console:conversations", args=[bot.pk])
    plan = plan_without_seqscan(probing_messages(queries, "conversations_bot"))
    assert "msg_bot_log_idx" in plan and "messaging_message_pkey" not in plan, plan


@postgresql_only
@pytest.mark.parametrize("page", ["console:bot", "announcements:compose"])
def test_a_bots_last_connection_test_is_read_from_its_own_index(
    operator_client, bot, other_bot, operator, page
):
    """The bot's page and compose say how its last connection test went. Among a bot's
    many other actions (each message an operator sends is one), a test is rare: PostgreSQL
    read every operator action of every bot to find the bot's last one, or none (45 ms at
    500,000 actions, on each view of either page). audit_bot_action_idx finds it at once."""
    actions = [
        OperatorAction(bot=b, actor=operator, action="message.send", summary="")
        for b in (bot, other_bot)
        for _ in range(ORDINARY // 2)
    ]
    OperatorAction.objects.bulk_create(actions)
    analyze("audit_operatoraction")
    url, params = (
        (reverse(page, args=[bot.pk]), {})
        if page == "console:bot"
        else (reverse(page), {"bot": bot.pk})
    )

    with CaptureQueriesContext(connection) as queries:
        assert operator_client.get(url, params).status_code == 200

    [sql] = [
        q["sql"]
        for q in queries
        if 'FROM "audit_operatoraction"' in q["sql"] and "bot.check_connection" in q["sql"]
    ]
    plan = plan_without_seqscan(sql)
    assert "audit_bot_action_idx" in plan, plan


def received_old_then_newer(group: Conversation, senders: list[tuple[str, str]]) -> None:
    """ORDINARY // 30 received messages taking turns among `senders` (ID, name), then
    ORDINARY newer ones from 50 other users; analyzed."""
    old = [(f"old{i}", *senders[i % len(senders)]) for i in range(ORDINARY // 30)]
    newer = [(f"m{i}", f"wmUser{i % 50}", f"用户{i % 50}") for i in range(ORDINARY)]
    Message.objects.bulk_create(
        Message(
            msgid=msgid,
            bot_id=group.bot_id,
            conversation=group,
            direction="in",
            msgtype="text",
            body={},
            sender_id=sender_id,
            sender_name=sender_name,
            status="received",
            source="agent",
        )
        for msgid, sender_id, sender_name in old + newer
    )
    analyze("messaging_message", "conversations_conversation")


@postgresql_only
@pytest.mark.parametrize(
    "sender",
    [
        pytest.param("wmOldHand", id="ID"),
        pytest.param("老员工张", id="part of the name"),
        pytest.param("无名氏赵", id="a contact's name, the messages without one"),
    ],
)
def test_search_by_a_sender_whose_messages_are_all_old_reads_the_senders_not_the_newer(
    operator_client, bot, group, make_conversation, monkeypatch, sender
):
    """Searching by sender (an ID or part of a name: an OR that no index orders), newest
    first by id: PostgreSQL expected the sender's messages spread through the table and
    walked the primary key back from the newest message, filtering. For a sender whose
    messages are all old it read every newer message of everyone else (67 ms at 205,000
    messages, growing with each new one). Now only a bounded range of the newest ids is
    walked (made small here), and the sender's older messages are read through the sender
    indexes."""
    monkeypatch.setattr("console.queries.SENDER_WINDOW", 1_000)
    make_conversation(bot, "wmNameless", kind="user", name="无名氏赵六")
    received_old_then_newer(group, [("wmOldHand", "老员工张三"), ("wmNameless", "")])

    with CaptureQueriesContext(connection) as queries:
        response = operator_client.get(SEARCH, {"sender": sender})

    assert response.status_code == 200 and len(response.context["page"].rows) == 50
    read = {
        q["sql"]: rows_read(q["sql"])
        for q in queries
        if 'FROM "messaging_message"' in q["sql"] and "LIMIT" in q["sql"]
    }
    assert sum(read.values()) < ORDINARY // 4, read


@postgresql_only
@pytest.mark.parametrize(
    "sender",
    [
        pytest.param("鑫", id="one character"),
        pytest.param("欧阳", id="two characters"),
        pytest.param("aB", id="two letters in another case"),
        pytest.param("懿", id="a contact's name, the messages without one"),
    ],
)
def test_search_by_a_name_part_too_short_for_a_trigram_reads_the_senders_not_the_table(
    operator_client, bot, group, make_conversation, monkeypatch, sender
):
    """A name part of one or two characters (a Chinese surname or given name) has no
    trigram: msg_sender_trgm_idx could not serve it, and the sender's older messages were
    found by reading every message (4,795 buffers at 205,000 messages, note 29). Now they
    are read through the index of the names' characters (msg_sender_chars_idx, note 31):
    the same messages, in the same order."""
    monkeypatch.setattr("console.queries.SENDER_WINDOW", 1_000)
    make_conversation(bot, "wmNameless", kind="user", name="司马懿")
    received_old_then_newer(
        group, [("wmOldHand", "欧阳鑫"), ("wmAbel", "ABEL"), ("wmNameless", "")]
    )
    whose = {"鑫": "wmOldHand", "欧阳": "wmOldHand", "aB": "wmAbel", "懿": "wmNameless"}[sender]
    theirs = Message.objects.filter(sender_id=whose).order_by("-id")

    with CaptureQueriesContext(connection) as queries:
        response = operator_client.get(SEARCH, {"sender": sender})

    assert response.status_code == 200
    assert [m.pk for m in response.context["page"].rows] == [m.pk for m in theirs[:50]]
    read = {
        q["sql"]: rows_read(q["sql"])
        for q in queries
        if 'FROM "messaging_message"' in q["sql"] and "LIMIT" in q["sql"]
    }
    assert sum(read.values()) < ORDINARY // 4, read
