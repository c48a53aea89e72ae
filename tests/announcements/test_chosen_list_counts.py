"""The compose page of an announcement edited or duplicated lists and counts the
conversations it was sent to (its list is where the picker starts, "only chosen" on):
as many as before, whatever PostgreSQL knows of the conversation table.

A table never analyzed (autovacuum off, a restore before its ANALYZE; a test's table
always) made PostgreSQL estimate one conversation per bot, and it ran "the matches IN
(the list's active conversations)" as a scan of the bot's conversations for each of
them: 396 s for 5,070 conversations (docs/performance.md, note 30)."""

import json
import re

import pytest
from django.db import connection
from django.utils import timezone

from announcements.editing import edited_version
from conversations.models import Conversation

from .test_audience import picker

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="query plans of PostgreSQL"
)
LISTED = 2_000


@pytest.fixture
def listed_announcement(bot, make_conversation, make_announcement):
    """A daily announcement to two groups and a user that still receive, a group turned
    off and one being deleted; beside it a group and a user it does not list."""
    names = {
        "客户群 1": "group",
        "客户群 2": "group",
        "张伟": "user",
        "客户群 旧": "group",
        "客户群 删": "group",
    }
    listed = {
        name: make_conversation(bot, f"w{n}", name=name, kind=kind)
        for n, (name, kind) in enumerate(names.items())
    }
    make_conversation(bot, "wOtherGroup", name="客户群 外", kind="group")
    make_conversation(bot, "wOtherUser", name="李娜", kind="user")
    announcement = make_announcement(
        bot, list(listed.values()), kind="daily", schedule={"time": "09:00"}
    )
    Conversation.objects.filter(pk=listed["客户群 旧"].pk).update(is_active=False)
    Conversation.objects.filter(pk=listed["客户群 删"].pk).update(
        deletion_requested_at=timezone.now()
    )
    return announcement


def found(response) -> int:
    assert response.status_code == 200
    return response.context["results"].found


def test_an_edited_or_duplicated_lists_count_leaves_out_who_no_longer_receives(
    client, bot, superuser, listed_announcement
):
    client.force_login(superuser)
    base = {"audience_base": f"announcement:{listed_announcement.pk}", "only_chosen": "1"}

    edit = client.get(f"/console/announcements/{listed_announcement.pk}/edit/")
    duplicate = client.get(f"/console/announcements/new/?from={listed_announcement.pk}")
    searched = picker(client, bot, audience_query="客户", **base)
    users = picker(client, bot, audience_kind="user", **base)
    groups_searched = picker(client, bot, audience_kind="group", audience_query="2", **base)
    all_groups = picker(client, bot, audience="groups", **base)
    all_matching = picker(
        client, bot, audience="matching", audience_kind="group", audience_query="1", **base
    )

    for page in (edit, duplicate):
        assert found(page) == 3 and page.context["audience_counts"]["listed"] == 3
        (shown_count,) = re.findall(r'<p id="match-count"[^>]*>(.*?)</p>', page.content.decode())
        assert re.findall(r"\d+", re.sub(r'data-matching="\d+"', "", shown_count)) == ["3"]
    assert (found(searched), found(users), found(groups_searched)) == (2, 1, 1)
    assert found(all_groups) == 3  # the rule's: 客户群 1, 客户群 2, 客户群 外
    assert found(all_matching) == 1
    assert [str(c) for c, _taken in all_groups.context["results"].rows] == [
        "客户群 1",
        "客户群 2",
        "客户群 外",
    ]


def keeping(ran: list):
    """A query wrapper keeping the SELECTs run in `ran`, (sql, params) each."""

    def keep(execute, sql, params, many, context):
        if sql.startswith("SELECT"):
            ran.append((sql, params))
        return execute(sql, params, many, context)

    return keep


def rows_read(sql: str, params) -> int:
    """Rows PostgreSQL read from the conversation table running `sql`, every loop."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def walk(node) -> int:
        here = 0
        if node.get("Relation Name") == "conversations_conversation":
            here = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node[
                "Actual Loops"
            ]
        return here + sum(walk(child) for child in node.get("Plans", []))

    return walk(plan["Plan"])


@postgresql_only
@pytest.mark.parametrize("page", ["edit", "duplicate"])
def test_an_edited_or_duplicated_list_of_2000_is_read_a_few_times_not_once_per_member(
    client, bot, make_groups, superuser, make_announcement, page
):
    announcement = make_announcement(
        bot, make_groups(bot, LISTED), kind="daily", schedule={"time": "09:00"}
    )
    client.force_login(superuser)
    url = {
        "edit": f"/console/announcements/{announcement.pk}/edit/",
        "duplicate": f"/console/announcements/new/?from={announcement.pk}",
    }[page]
    ran = []
    with connection.execute_wrapper(keeping(ran)):
        response = client.get(url)

    assert found(response) == LISTED
    read = {sql: rows_read(sql, params) for sql, params in ran}
    # Each query reads the list, or the bot's conversations, once or twice at most.
    assert max(read.values()) <= 3 * LISTED, read
    assert sum(read.values()) <= 10 * LISTED, read


@postgresql_only
def test_the_edit_pages_version_of_a_list_of_2000_reads_the_membership_table_alone(
    bot, make_groups, make_announcement
):
    announcement = make_announcement(
        bot, make_groups(bot, LISTED), kind="daily", schedule={"time": "09:00"}
    )
    ran = []

    with connection.execute_wrapper(keeping(ran)):
        edited_version(announcement)

    assert ran and sum(rows_read(sql, params) for sql, params in ran) == 0
