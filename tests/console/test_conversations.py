import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from conversations.models import Conversation
from tests.counted_queries import get_counting_queries


def test_conversations_are_sorted_by_last_message_with_a_preview(
    operator_client, bot, make_conversation, make_message
):
    quiet = make_conversation(bot, "wrQuiet", name="安静群")
    busy = make_conversation(bot, "wrBusy", name="热闹群")
    make_conversation(bot, "wrEmpty", name="空群")
    make_message(quiet, text="很久以前")
    make_message(busy, text="最新的消息\n第二行", sender_name="张伟")

    response = operator_client.get(reverse("console:conversations", args=[bot.pk]))

    html = response.content.decode()
    assert html.index("热闹群") < html.index("安静群") < html.index("空群")
    assert "最新的消息" in html and "张伟" in html
    assert "暂无消息" in html


def test_conversations_without_messages_follow_in_the_order_of_their_names(
    operator_client, bot, make_conversation, make_message
):
    """Natural order, as the audience picker lists them: numbers by value, Chinese names
    by pinyin among the Latin ones."""
    for n, name in enumerate(["测试群10", "测试群2", "张三群", "Alpha", "李四群", "beta"]):
        make_conversation(bot, f"wr{n}", name=name)
    make_message(make_conversation(bot, "wrBusy", name="热闹群"), text="刚才")

    html = operator_client.get(reverse("console:conversations", args=[bot.pk])).content.decode()

    shown = ["热闹群", "Alpha", "beta", "测试群2", "测试群10", "李四群", "张三群"]
    assert sorted(shown, key=html.index) == shown


def test_a_new_message_moves_its_conversation_to_the_top_at_once(
    operator_client, bot, make_conversation, make_message
):
    """The newest message per conversation is kept in the shared cache; a view adds the
    messages that arrived since."""
    quiet = make_conversation(bot, "wrQuiet", name="安静群")
    busy = make_conversation(bot, "wrBusy", name="热闹群")
    make_message(quiet, text="很久以前")
    make_message(busy, text="刚才")
    url = reverse("console:conversations", args=[bot.pk])
    before = operator_client.get(url).content.decode()

    make_message(quiet, direction="out", text="现在回复")
    after = operator_client.get(url).content.decode()

    assert before.index("热闹群") < before.index("安静群")
    assert after.index("安静群") < after.index("热闹群") and "现在回复" in after


def test_a_message_committed_after_a_newer_one_was_seen_still_shows(
    operator_client, bot, make_conversation, make_message
):
    """Ids are handed out at insert, so a slow transaction can commit a message whose id
    is below one a view already counted: the view reads a margin below it again."""
    quiet = make_conversation(bot, "wrQuiet", name="安静群")
    busy = make_conversation(bot, "wrBusy", name="热闹群")
    make_message(quiet, text="很久以前")
    late = make_message(busy, text="还没提交")
    make_message(busy, text="刚才")
    late_id = late.pk
    late.delete()  # not yet committed when the first view reads
    url = reverse("console:conversations", args=[bot.pk])
    operator_client.get(url)

    late_group = make_conversation(bot, "wrLate", name="迟到群")
    make_message(late_group, text="晚提交的消息", pk=late_id)
    after = operator_client.get(url).content.decode()

    assert "晚提交的消息" in after
    assert after.index("热闹群") < after.index("迟到群") < after.index("安静群")


def test_a_preview_names_a_sender_who_came_without_a_name_after_the_synced_contact(
    operator_client, bot, make_conversation, make_message
):
    make_conversation(bot, "wmDemoUser0002", kind="user", name="李娜")
    service = make_conversation(bot, "wrService", name="客户服务群")
    quiet = make_conversation(bot, "wrQuiet", name="安静群")
    make_message(service, text="订单什么时候发货？", sender_id="wmDemoUser0002")
    make_message(quiet, text="没同步过的人", sender_id="wmStranger")

    html = operator_client.get(reverse("console:conversations", args=[bot.pk])).content.decode()

    previews = [
        " ".join(p.split())
        for p in re.findall(r'class="conv-preview muted">(.*?)</span>\s*</span>', html, re.S)
    ]
    assert previews == [
        "没同步过的人",
        '<span class="who">李娜：</span>订单什么时候发货？',
    ]  # newest first


def test_users_and_groups_are_separate_tabs(operator_client, bot, make_conversation):
    make_conversation(bot, "wrG", name="一个群")
    make_conversation(bot, "wmU", name="一个用户", kind=Conversation.Kind.USER)
    url = reverse("console:conversations", args=[bot.pk])

    groups = operator_client.get(url).content.decode()
    users = operator_client.get(url + "?kind=user").content.decode()

    assert "一个群" in groups and "一个用户" not in groups
    assert "一个用户" in users and "一个群" not in users


def test_the_tabs_are_named_in_the_plural_in_both_languages(
    operator_client, bot, make_conversation
):
    """English read "Group 3 / User 4": the kinds' singular names."""
    for i in range(3):
        make_conversation(bot, f"wrG{i}", name=f"群 {i}")
    make_conversation(bot, "wmU", name="一个用户", kind=Conversation.Kind.USER)
    url = reverse("console:conversations", args=[bot.pk])

    def tabs(html: str) -> list[str]:
        nav = html.split('<nav class="tabs">')[1].split("</nav>")[0]
        return [" ".join(re.sub(r"<[^>]+>", " ", tab).split()) for tab in nav.split("</a>")[:-1]]

    chinese = tabs(operator_client.get(url).content.decode())
    operator_client.cookies["django_language"] = "en"
    english = tabs(operator_client.get(url).content.decode())

    assert chinese == ["群聊 3", "用户 1"]
    assert english == ["Groups 3", "Users 1"]


def test_search_by_name_and_empty_result_offers_to_show_all(
    operator_client, bot, make_conversation
):
    make_conversation(bot, "wrA", name="销售一部")
    make_conversation(bot, "wrB", name="客服")
    url = reverse("console:conversations", args=[bot.pk])

    html = operator_client.get(url + "?q=销售").content.decode()
    assert "销售一部" in html and "客服" not in html

    html = operator_client.get(url + "?q=不存在").content.decode()
    assert "没有名称匹配" in html


def test_a_search_is_kept_across_the_tabs_and_each_tab_counts_its_matches(
    operator_client, bot, make_conversation
):
    make_conversation(bot, "wrSales", name="张伟的销售群")
    make_conversation(bot, "wrOther", name="客服群")
    make_conversation(bot, "wmZhang", name="张伟", kind=Conversation.Kind.USER)
    make_conversation(bot, "wmAlex", name="Alex Chen", kind=Conversation.Kind.USER)
    url = reverse("console:conversations", args=[bot.pk])

    groups = operator_client.get(url, {"q": "张伟"}).content.decode()
    nav = groups.split('<nav class="tabs">')[1].split("</nav>")[0]

    assert f'href="{url}?kind=user&amp;q=%E5%BC%A0%E4%BC%9F"' in nav
    assert [" ".join(re.sub(r"<[^>]+>", " ", tab).split()) for tab in nav.split("</a>")[:-1]] == [
        "群聊 1",
        "用户 1",
    ]
    users = operator_client.get(url, {"kind": "user", "q": "alex"}).content.decode()
    listed = users.split('class="conversation-list')[1]
    assert "Alex Chen" in listed and "张伟" not in listed


def listed_names(html: str) -> list[str]:
    return re.findall(r'<span class="conv-name">([^<\n]+)', html)


@pytest.fixture
def a_group_and_two_users(bot, make_conversation):
    make_conversation(bot, "wrSales", name="销售群")
    make_conversation(bot, "wmLi", name="李娜", kind=Conversation.Kind.USER)
    make_conversation(bot, "wmLi2", name="李四", kind=Conversation.Kind.USER)


def test_a_search_typed_on_a_tab_without_matches_shows_the_tab_with_them(
    operator_client, bot, a_group_and_two_users
):
    """Searching "李" stayed on the groups tab, saying nothing matched, beside users that did."""
    url = reverse("console:conversations", args=[bot.pk])
    form = operator_client.get(url).content.decode().split('class="search-inline"')[1]
    assert '<input type="hidden" name="tab" value="group">' in form.split("</form>")[0]

    found = operator_client.get(url, {"tab": "group", "q": "李"}).content.decode()

    assert sorted(listed_names(found)) == ["李四", "李娜"]
    assert re.search(r'<a href="[^"]*kind=user[^"]*" class="active">用户', found)
    assert "没有群聊匹配“李”，以下是匹配的用户。" in found
    # A search with matches on its own tab stays there.
    kept = operator_client.get(url, {"tab": "user", "q": "李娜"}).content.decode()
    assert listed_names(kept) == ["李娜"] and "以下是匹配的" not in kept
    both = operator_client.get(url, {"tab": "group", "q": "销售"}).content.decode()
    assert listed_names(both) == ["销售群"] and "以下是匹配的" not in both


def test_a_chosen_tab_without_matches_points_to_the_tab_with_them(
    operator_client, bot, a_group_and_two_users
):
    url = reverse("console:conversations", args=[bot.pk])

    groups = operator_client.get(url, {"kind": "group", "q": "李"}).content.decode()
    users = operator_client.get(url, {"kind": "user", "q": "销售"}).content.decode()
    nowhere = operator_client.get(url, {"kind": "user", "q": "不存在"}).content.decode()

    assert listed_names(groups) == []
    assert (
        '<p id="other-tab-matches">没有群聊匹配“李”，但有 2 个用户匹配。 '
        f'<a href="{url}?kind=user&amp;q=%E6%9D%8E">在用户中查看</a></p>'
    ) in groups
    assert "没有用户匹配“销售”，但有 1 个群聊匹配。" in users and "在群聊中查看" in users
    assert "没有名称匹配“不存在”的会话。" in nowhere and "other-tab-matches" not in nowhere


def test_inactive_conversations_are_marked(operator_client, bot, make_conversation):
    make_conversation(bot, "wrGone", name="已解散群", is_active=False)
    html = operator_client.get(reverse("console:conversations", args=[bot.pk])).content.decode()
    assert 'class="inactive"' in html and "已停用" in html


def test_the_list_never_shows_another_bots_conversations(operator_client, bot, group, other_group):
    html = operator_client.get(reverse("console:conversations", args=[bot.pk])).content.decode()
    assert "销售群" in html
    assert "竞品群" not in html and "rival" not in html


def test_long_lists_are_paginated(operator_client, bot, make_conversation, make_message):
    for i in range(55):
        make_conversation(bot, f"wr{i:03}", name=f"群{i:03}")
    url = reverse("console:conversations", args=[bot.pk])
    first = operator_client.get(url).content.decode()
    second = operator_client.get(url + "?page=2").content.decode()
    assert "第 1 / 2 页" in first and "群054" not in first
    assert "群054" in second


@pytest.mark.parametrize("number", ["0", "-1", "abc"])
def test_a_page_number_below_the_first_opens_the_first_page(
    operator_client, bot, make_conversation, number
):
    for i in range(55):
        make_conversation(bot, f"wr{i:03}", name=f"群{i:03}")
    url = reverse("console:conversations", args=[bot.pk])

    html = operator_client.get(f"{url}?page={number}").content.decode()
    beyond = operator_client.get(f"{url}?page=3").content.decode()

    assert "第 1 / 2 页" in html and "群054" not in html
    assert "第 2 / 2 页" in beyond and "群054" in beyond


def test_the_console_and_compose_open_the_most_recently_active_bot(
    client, make_bot, make_operator, make_conversation
):
    from messaging.models import Message

    empty = make_bot(name="aaa-empty")
    quiet = make_bot(name="bbb-quiet")
    busy = make_bot(name="zzz-busy")
    user = make_operator("lin", empty, quiet, busy)
    for bot, text in ((busy, "旧消息"), (quiet, "较新的消息")):
        chat = make_conversation(bot, f"wr{bot.pk}")
        Message.objects.create(
            bot=bot,
            conversation=chat,
            direction="out",
            msgtype="text",
            body={"msgtype": "text", "text": {"content": text}},
            status="sent",
            source="api",
        )
    client.force_login(user)

    assert client.get(reverse("console:index"))["Location"] == reverse(
        "console:conversations", args=[quiet.pk]
    )
    compose = client.get("/console/announcements/new/").content.decode()
    assert f'<input type="hidden" name="bot" value="{quiet.pk}">' in compose
    assert f'<option value="{quiet.pk}" selected>' in compose


def test_a_conversations_preview_names_a_message_type_in_words(
    operator_client, bot, group, make_message
):
    make_message(
        group,
        msgtype="image",
        text="",
        body={"msgtype": "image", "image": {"url": "https://x/y.png"}},
    )
    html = operator_client.get(reverse("console:conversations", args=[bot.pk])).content.decode()
    assert "[图片]" in html and "[image]" not in html


@pytest.mark.parametrize(
    ("connector", "expected"),
    [
        ("bridge", "它们会在下次联系人同步或收到消息后出现在这里。"),
        ("wecom_robot", "此连接器无法列出会话：由机器人管理员在机器人页面逐个手动添加。"),
        ("wecom_aibot", "它们会在收到消息后出现在这里。"),
    ],
)
def test_an_empty_tab_says_how_conversations_come_for_the_bots_connector(
    client, make_bot, make_conversation, make_operator, connector, expected
):
    """It told every bot's operators that the bot's agent syncs contacts: a group robot has
    no agent and lists nothing."""
    bridge = connector == "bridge"
    bot = make_bot(connector=connector) if bridge else make_bot(connector=connector, agent_url="")
    make_conversation(bot, "u1", kind="user", name="张三")  # the groups tab stays empty
    client.force_login(make_operator("lihua", bot))

    page = client.get(reverse("console:conversations", args=[bot.pk]) + "?kind=group")

    shown = page.content.decode().split('id="none-of-this-kind">')[1].split("</p>")[0]
    assert shown == f"暂无此类会话。{expected}"
    assert "代理" not in shown


def test_a_full_page_of_the_list_costs_the_queries_of_a_short_one(
    operator_client, bot, make_conversation, make_message
):
    # A guard: each row's preview, sender and deletion state come with the page's queries.
    url = reverse("console:conversations", args=[bot.pk])

    def queries_of(params: dict) -> tuple[int, int]:
        cache.clear()  # each count reads the newest messages in full
        queries = get_counting_queries(operator_client, url, params)
        assert queries.response.status_code == 200
        return len(queries.response.context["page"].object_list), len(queries)

    def add(start: int, count: int) -> None:
        for i in range(start, start + count):
            group = make_conversation(bot, f"wr{i:03}", name=f"客户群{i:03}")
            make_message(group, sender_id=f"wm{i:03}", sender_name="")

    add(0, 2)
    few = queries_of({}), queries_of({"q": "客户群"})
    add(2, 58)  # more than a page of 50
    full = queries_of({}), queries_of({"q": "客户群"})

    assert [rows for rows, _ in few] == [2, 2] and [rows for rows, _ in full] == [50, 50]
    assert [n for _, n in full] == [n for _, n in few]
