"""Audiences of any size: the compose page's picker searches on the server and posts a
few fields whatever the number of conversations; whole-audience rules are applied
when each run starts."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from announcements.editing import save_audience
from announcements.fanout import fan_out
from announcements.models import Announcement, AnnouncementRun
from announcements.scheduler import start_due_announcements
from botadmin.natural_order import sort_key
from connectors.demo_agent import DemoAgent
from conversations import sync
from conversations.models import Conversation, SyncRun
from conversations.secrets import generate_agent_token
from messaging.delivery import drain
from tests.announcement_posts import post_confirmed
from tests.counted_queries import counting_queries, get_counting_queries
from tests.html_forms import submitted_form
from tests.query_plans import plan_without_seqscan_or_sort

from .test_console_pages import compose_post

# Django refuses a POST with more fields than this (DATA_UPLOAD_MAX_NUMBER_FIELDS).
FIELD_LIMIT = 1_000


def page_form(client, url: str) -> dict[str, list[str]]:
    response = client.get(url)
    assert response.status_code == 200
    return submitted_form(response.content.decode(), "compose")


def picker(client, bot, **fields):
    """One page of the picker, as the compose page asks for it."""
    return client.post("/console/announcements/audience/", {"bot": bot.pk, **fields})


def shown(response) -> list[str]:
    return [str(c) for c, _taken in response.context["results"].rows]


def checked(response) -> set[str]:
    return {str(c) for c, taken in response.context["results"].rows if taken}


def compose_with_rule(client, bot, audience: str, **fields):
    """The compose form sent with a rule instead of chosen conversations."""
    data = compose_post(bot, [], audience=audience, **fields)
    return post_confirmed(client, "/console/announcements/new/", data)


def run_now(announcement) -> AnnouncementRun:
    Announcement.objects.filter(pk=announcement.pk).update(next_run_at=timezone.now())
    (run_id,) = start_due_announcements()
    return AnnouncementRun.objects.get(pk=run_id)


# --- More than a thousand conversations ---------------------------------------------


def test_an_announcement_to_1500_groups_is_edited_and_saved_as_its_page_sends_it(
    client, bot, make_groups, superuser, make_announcement
):
    """The edit page listed every recipient as a checked box: 1,500 fields, and Django
    refused the whole POST (400) before the view saw it."""
    groups = make_groups(bot, 1_500)
    announcement = make_announcement(bot, groups, kind="daily", schedule={"time": "09:00"})
    client.force_login(superuser)
    url = f"/console/announcements/{announcement.pk}/edit/"

    data = page_form(client, url)
    response = post_confirmed(client, url, {**data, "title": "Daily, edited", "schedule": "1"})

    assert response.status_code == 302
    assert sum(len(values) for values in data.values()) < 100
    announcement.refresh_from_db()
    assert announcement.title == "Daily, edited"
    assert announcement.conversations.count() == 1_500


def test_all_of_1500_groups_are_chosen_without_posting_their_ids(
    client, bot, make_groups, make_conversation, superuser
):
    groups = make_groups(bot, 1_500)
    make_conversation(bot, "wmUser1", kind=Conversation.Kind.USER)
    client.force_login(superuser)

    response = compose_with_rule(client, bot, "groups", kind="now")

    assert response.status_code == 302
    announcement = Announcement.objects.get()
    assert announcement.audience == Announcement.Audience.GROUPS
    assert not announcement.conversations.exists()
    (run_id,) = start_due_announcements()
    recipients = AnnouncementRun.objects.get(pk=run_id).recipient_ids
    assert sorted(recipients) == sorted(g.pk for g in groups)


def test_a_saved_audience_of_1500_is_reused_and_its_page_sends_it(
    client, bot, make_groups, superuser
):
    groups = make_groups(bot, 1_500)
    audience = save_audience(superuser, bot, "Everyone in sales", [g.pk for g in groups])
    client.force_login(superuser)
    data = page_form(client, "/console/announcements/new/")

    # What the page's script sets when the saved audience is chosen.
    data.update(saved_audience=str(audience.pk), audience_base=f"saved:{audience.pk}", removed="")
    response = post_confirmed(
        client,
        "/console/announcements/new/",
        {**data, "title": "To sales", "msgtype": "text", "text__content": "hello", "kind": "now"},
    )

    assert response.status_code == 302
    announcement = Announcement.objects.get()
    assert announcement.saved_audience == audience
    assert announcement.conversations.count() == 1_500


def test_a_duplicate_of_an_announcement_to_1500_groups_keeps_them_but_the_unchecked(
    client, bot, make_groups, superuser, make_announcement
):
    groups = make_groups(bot, 1_500)
    original = make_announcement(bot, groups, title="Original")
    client.force_login(superuser)

    page = client.get(f"/console/announcements/new/?from={original.pk}")
    data = submitted_form(page.content.decode(), "compose")
    data["removed"] = [str(groups[7].pk)]  # unchecked in the picker
    response = post_confirmed(client, f"/console/announcements/new/?from={original.pk}", data)

    assert "Original" in page.content.decode()
    assert response.status_code == 302
    copy = Announcement.objects.exclude(pk=original.pk).get()
    assert copy.title == "Original"
    assert copy.conversations.count() == 1_499
    assert not copy.conversations.filter(pk=groups[7].pk).exists()
    assert original.conversations.count() == 1_500


def test_the_compose_page_shows_one_page_of_conversations_whatever_their_number(
    client, bot, make_groups, superuser
):
    make_groups(bot, 1_500)
    client.force_login(superuser)

    response = client.get("/console/announcements/new/")

    html = response.content.decode()
    assert html.count('type="checkbox" value=') == 50
    assert "显示更多" in html and "找到 1500 个会话" in html
    assert len(response.content) < 60_000


def test_the_compose_and_edit_pages_cost_the_same_queries_for_60_or_600_conversations(
    client, make_bot, make_groups, superuser, make_announcement
):
    client.force_login(superuser)
    counts = []
    for size in (60, 600):
        bot = make_bot(name=f"bot {size}")
        groups = make_groups(bot, size, prefix=f"wr{size}x")
        announcement = make_announcement(bot, groups, kind="daily", schedule={"time": "09:00"})
        for url in (
            f"/console/announcements/new/?bot={bot.pk}",
            f"/console/announcements/{announcement.pk}/edit/",
        ):
            queries = get_counting_queries(client, url)
            assert queries.response.status_code == 200
            counts.append(len(queries))

    assert counts[:2] == counts[2:]


def test_a_recipient_list_checked_one_by_one_is_one_field(client, bot, make_groups, superuser):
    """Past a thousand conversations checked in the picker (pages of "select all shown")."""
    groups = make_groups(bot, 1_200)
    client.force_login(superuser)
    data = compose_post(bot, [], conversations=",".join(str(g.pk) for g in groups))

    response = post_confirmed(client, "/console/announcements/new/", data)

    assert response.status_code == 302
    assert Announcement.objects.get().conversations.count() == 1_200


# --- Searching on the server ----------------------------------------------------------


@pytest.fixture
def contacts(bot, make_conversation):
    group = Conversation.Kind.GROUP
    user = Conversation.Kind.USER
    return {
        name: make_conversation(bot, conversation_id, name=name, kind=kind)
        for name, conversation_id, kind in [
            ("销售一群", "wrSales1", group),
            ("销售二群", "wrSales2", group),
            ("研发群", "wrDev", group),
            ("Sales Team EMEA", "wrEmea", group),
            ("张伟", "wmZhangWei", user),
            ("Alice Sales", "wmAlice", user),
        ]
    }


def test_the_picker_finds_chinese_and_english_names_and_ids(client, bot, contacts, superuser):
    client.force_login(superuser)

    # By pinyin, as WeCom lists them: xiao shou er qun, xiao shou yi qun.
    assert shown(picker(client, bot, audience_query="销售")) == ["销售二群", "销售一群"]
    assert shown(picker(client, bot, audience_query="sales")) == ["Alice Sales", "Sales Team EMEA"]
    assert shown(picker(client, bot, audience_query="SALES", audience_kind="user")) == [
        "Alice Sales"
    ]
    assert shown(picker(client, bot, audience_query="wrDev")) == ["研发群"]
    assert shown(picker(client, bot, audience_query="张")) == ["张伟"]
    assert shown(picker(client, bot, audience_query="没有这个")) == []
    found = picker(client, bot, audience_query="销售")
    assert found.context["results"].found == 2
    assert "找到 2 个会话" in found.content.decode()


def test_the_picker_pages_by_name_and_leaves_nobody_out(
    client, bot, make_groups, make_conversation, superuser
):
    make_groups(bot, 120)
    gone = make_conversation(bot, "wrGone", name="group 5x", is_active=False)
    client.force_login(superuser)

    names, after, pages = [], None, 0
    while True:
        response = picker(client, bot, **({"after": after} if after else {}))
        names += shown(response)
        after = response.context["results"].next_after
        pages += 1
        if after is None:
            break

    assert pages == 3
    assert names == sorted(names, key=sort_key) and len(names) == len(set(names)) == 120
    assert names[:3] == ["group 0", "group 1", "group 2"] and names[-1] == "group 119"
    assert str(gone) not in names


def test_the_picker_lists_names_as_a_chinese_reader_looks_for_them(
    client, bot, make_conversation, superuser
):
    for n, name in enumerate(["张三", "李四", "王五", "Alice", "bob", "用户10", "用户2"]):
        make_conversation(bot, f"wm{n}", name=name, kind=Conversation.Kind.USER)
    client.force_login(superuser)

    assert shown(picker(client, bot)) == ["Alice", "bob", "李四", "王五", "用户2", "用户10", "张三"]


def test_the_pickers_pages_go_on_across_names_sorting_alike(client, bot, superuser):
    """Each page ends among namesakes (one key, ordered by id): the next one starts after
    the last one shown, leaving none out and showing none twice."""
    names = ["客户群"] * 60 + ["李明", "Li Ming"] * 25 + [f"用户{n}" for n in range(30, 0, -1)]
    Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wr{n:03d}", name=name)
        for n, name in enumerate(names)
    )
    client.force_login(superuser)

    ids, after = [], None
    while True:
        results = picker(client, bot, **({"after": after} if after else {})).context["results"]
        ids += [c.pk for c, _taken in results.rows]
        after = results.next_after
        if after is None:
            break

    in_order = bot.conversations.order_by("name_sort_key", "pk").values_list("pk", flat=True)
    assert ids == list(in_order) and len(ids) == len(set(ids)) == 140
    shown_names = [Conversation.objects.get(pk=pk).name for pk in ids]
    assert shown_names[:60] == ["客户群"] * 60  # ke hu qun
    assert shown_names[60:85] == ["Li Ming"] * 25 and shown_names[85:110] == ["李明"] * 25
    assert shown_names[110:113] == ["用户1", "用户2", "用户3"]


def test_the_picker_shows_what_is_chosen_on_top_of_the_list_it_started_from(
    client, bot, contacts, superuser, make_announcement
):
    announcement = make_announcement(bot, [contacts["销售一群"], contacts["研发群"]])
    client.force_login(superuser)
    state = {
        "audience_base": f"announcement:{announcement.pk}",
        "conversations": str(contacts["张伟"].pk),
        "removed": str(contacts["研发群"].pk),
    }

    everything = picker(client, bot, **state)
    chosen_only = picker(client, bot, only_chosen="1", **state)
    all_groups = picker(client, bot, audience="groups", **state)

    Conversation.objects.filter(pk=contacts["张伟"].pk).update(is_active=False)
    after_a_sync = picker(client, bot, **state)

    assert checked(everything) == {"销售一群", "张伟"}
    assert after_a_sync.status_code == 200 and checked(after_a_sync) == {"销售一群"}
    assert shown(chosen_only) == ["销售一群", "张伟"]
    assert checked(all_groups) == {"销售一群", "销售二群", "研发群", "Sales Team EMEA"}
    assert "disabled" in all_groups.content.decode()


def test_the_picker_answers_only_for_the_users_bots(
    client, make_bot, make_operator, make_groups, make_announcement
):
    mine, theirs = make_bot(name="mine"), make_bot(name="theirs")
    make_groups(mine, 1)
    their_announcement = make_announcement(theirs, make_groups(theirs, 2, prefix="wrT"))
    client.force_login(make_operator("alice", mine))

    assert picker(client, theirs).status_code == 404
    peek = picker(client, mine, audience_base=f"announcement:{their_announcement.pk}")
    assert peek.status_code == 400
    assert client.get("/console/announcements/audience/").status_code == 405


@pytest.mark.skipif(connection.vendor != "postgresql", reason="query plans of PostgreSQL")
def test_the_pickers_pages_read_the_sort_key_index_without_sorting(
    client, bot, make_groups, superuser
):
    make_groups(bot, 120)
    with connection.cursor() as cursor:  # statistics of these rows, as autovacuum may make them
        cursor.execute("ANALYZE conversations_conversation")
    client.force_login(superuser)
    second = picker(client, bot).context["results"].next_after
    plans = []
    for params in ({}, {"after": second}):
        with CaptureQueriesContext(connection) as queries:
            picker(client, bot, **params)
        [sql] = [q["sql"] for q in queries if "LIMIT 51" in q["sql"]]
        plans.append(plan_without_seqscan_or_sort(sql))

    for plan in plans:
        assert "conv_active_sort_idx" in plan and "Sort" not in plan, plan


def rule_counts(response) -> dict[str, str]:
    """The count beside each whole-audience choice, as the page shows it."""
    shown = dict(re.findall(r'data-count-of="(\w+)" data-n="(\d*)"', response.content.decode()))
    return {rule: shown[rule] for rule in ("groups", "users", "everyone")}


def counts_conversations(queries) -> bool:
    return any(
        "COUNT(" in q["sql"] and 'FROM "conversations_conversation"' in q["sql"] for q in queries
    )


def test_the_compose_page_counts_a_bots_conversations_once_and_again_after_a_sync(
    client, make_bot, superuser, django_capture_on_commit_callbacks
):
    with DemoAgent(token=generate_agent_token(), users=[], groups=[]) as agent:
        bot = make_bot(name="synced", agent_url=agent.url, agent_token=agent.token)
        agent.users = [{"conversation_id": f"wmU{n}", "name": f"用户 {n}"} for n in range(3)]
        agent.groups = [{"conversation_id": f"wrG{n}", "name": f"客户群 {n}"} for n in range(5)]
        with django_capture_on_commit_callbacks(execute=True):
            sync.sync_now(bot, SyncRun.Trigger.COMMAND)
        client.force_login(superuser)
        url = f"/console/announcements/new/?bot={bot.pk}"
        first = client.get(url)
        again_queries = get_counting_queries(client, url)
        again = again_queries.response

        del agent.groups[:2]
        agent.users.append({"conversation_id": "wmU9", "name": "新用户"})
        with django_capture_on_commit_callbacks(execute=True):
            sync.sync_now(bot, SyncRun.Trigger.COMMAND)
        after_sync = client.get(url)

    assert rule_counts(first) == {"groups": "5", "users": "3", "everyone": "8"}
    assert rule_counts(again) == rule_counts(first)
    assert not counts_conversations(again_queries)  # kept in the shared cache
    assert rule_counts(after_sync) == {"groups": "3", "users": "4", "everyone": "7"}


def test_the_pickers_first_page_counts_its_matches_as_the_compose_page_does(
    client, bot, make_conversation, superuser
):
    """Without a search, from the counts kept in the shared cache; with one, by counting."""
    for n in range(4):
        make_conversation(bot, f"wrGroup{n}", name=f"客户群 {n}", kind="group")
    make_conversation(bot, "wmUser", name="张伟", kind="user")
    make_conversation(bot, "wrOff", name="客户群 旧", kind="group", is_active=False)
    client.force_login(superuser)
    picker(client, bot)  # counts them once

    with counting_queries() as everyone_queries:
        everyone = picker(client, bot)
    with counting_queries() as groups_queries:
        groups = picker(client, bot, audience_kind="group")
    searched = picker(client, bot, audience_query="客户")

    assert (everyone.context["results"].found, groups.context["results"].found) == (5, 4)
    assert not counts_conversations(everyone_queries)
    assert not counts_conversations(groups_queries)
    assert searched.context["results"].found == 4


# --- Whole-audience rules through fan-out to real sending ------------------------------


@pytest.fixture
def agent():
    with DemoAgent(token=generate_agent_token(), users=[], groups=[]) as agent:
        yield agent


def sent_to(agent) -> set[str]:
    return {sent.body["conversation_id"] for sent in agent.sent.values()}


def test_all_groups_reach_the_groups_of_each_run_including_ones_added_later(
    client, make_bot, make_conversation, agent, superuser, settings
):
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0  # the second run follows the first at once
    bot = make_bot(
        name="demo", agent_url=agent.url, agent_token=agent.token, rate_limit_per_minute=6000
    )
    first, second = make_conversation(bot, "wrOne"), make_conversation(bot, "wrTwo")
    make_conversation(bot, "wmUser", kind=Conversation.Kind.USER)
    client.force_login(superuser)
    compose_with_rule(
        client, bot, "groups", kind="daily", time="09:00", msgtype="text", text__content="每日提醒"
    )
    announcement = Announcement.objects.get()
    detail = client.get(f"/console/announcements/{announcement.pk}/").content.decode()

    fan_out(run_now(announcement).pk)
    drain()
    assert sent_to(agent) == {"wrOne", "wrTwo"}

    make_conversation(bot, "wrThree", name="新群")
    Conversation.objects.filter(pk=first.pk).update(is_active=False)  # the sync lost it
    agent.sent.clear()
    second_run = run_now(announcement)
    fan_out(second_run.pk)
    drain()

    assert sent_to(agent) == {"wrTwo", "wrThree"}
    assert "所有群聊" in detail and "包括之后新增的会话：目前 2 个。" in detail
    assert second.pk in second_run.recipient_ids


def test_everyone_matching_a_search_is_a_rule_too(
    client, bot, contacts, make_conversation, superuser
):
    client.force_login(superuser)

    response = compose_with_rule(client, bot, "matching", audience_query="销售", kind="now")
    make_conversation(bot, "wrSales3", name="销售三群")

    assert response.status_code == 302
    announcement = Announcement.objects.get()
    assert (announcement.audience, announcement.audience_search) == ("everyone", "销售")
    run = run_now(announcement)
    names = set(
        Conversation.objects.filter(pk__in=run.recipient_ids).values_list("name", flat=True)
    )
    assert names == {"销售一群", "销售二群", "销售三群"}
    edit = client.get(f"/console/announcements/{announcement.pk}/").content.decode()
    assert "名称包含“销售”" in edit


def test_the_choice_of_all_matching_a_search_says_later_ones_get_it_too(
    client, bot, contacts, superuser
):
    """It is a rule, like "all groups": not the results listed today."""
    client.force_login(superuser)

    chinese = client.get("/console/announcements/new/").content.decode()
    client.cookies["django_language"] = "en"
    english = client.get("/console/announcements/new/").content.decode()

    choice = r'<input type="radio" name="audience" value="matching"[^>]*> ([^<]*) <span'
    assert re.search(choice, chinese)[1] == "符合搜索的所有会话（含以后新增的）"
    assert re.search(choice, english)[1] == "All matching the search, including later ones"


def test_a_chosen_list_stays_as_saved_and_says_so(
    client, bot, make_groups, make_conversation, superuser
):
    groups = make_groups(bot, 3)
    client.force_login(superuser)
    post_confirmed(client, "/console/announcements/new/", compose_post(bot, groups[:2], kind="now"))
    make_conversation(bot, "wrLate", name="late group")

    announcement = Announcement.objects.get()
    detail = client.get(f"/console/announcements/{announcement.pk}/").content.decode()
    run = run_now(announcement)

    assert sorted(run.recipient_ids) == sorted(g.pk for g in groups[:2])
    assert "2 个选定的会话" in detail and "之后新增的会话不会收到" in detail
    assert f'href="/console/announcements/new/?from={announcement.pk}"' in detail  # 复制


def test_a_rule_that_takes_nobody_or_saved_as_an_audience_is_refused(
    client, bot, make_groups, superuser
):
    make_groups(bot, 2)
    client.force_login(superuser)

    nobody = compose_with_rule(client, bot, "users", kind="now")
    saved = compose_with_rule(client, bot, "groups", kind="now", save_audience_as="All")

    assert nobody.status_code == saved.status_code == 200
    assert "该受众目前没有任何会话。" in nobody.content.decode()
    assert "只有选定的会话可以保存为受众" in saved.content.decode()
    assert not Announcement.objects.exists()


def test_editing_a_rule_shows_it_again(client, bot, contacts, superuser):
    client.force_login(superuser)
    compose_with_rule(
        client,
        bot,
        "matching",
        audience_query="销售",
        audience_kind="group",
        kind="daily",
        time="09:00",
    )
    announcement = Announcement.objects.get()

    data = page_form(client, f"/console/announcements/{announcement.pk}/edit/")

    assert (announcement.audience, announcement.audience_search) == ("groups", "销售")
    assert data["audience"] == ["matching"]
    assert data["audience_query"] == ["销售"] and data["audience_kind"] == ["group"]
