"""@mentions on the compose page: user IDs or contact names, checked against the bot's
synced contacts; "@all" however typed is WeCom's "@all"."""

import re

from announcements.models import Announcement
from conversations.models import Conversation
from tests.announcement_posts import post_confirmed
from tests.counted_queries import get_counting_queries

from .test_console_pages import compose_post


def text_post(bot, groups, mentions: str) -> dict:
    return compose_post(
        bot,
        groups,
        msgtype="text",
        text__content="开会",
        text__mentioned_list=mentions,
        link__title="",
        link__url="",
    )


def contacts(bot, make_conversation) -> None:
    make_conversation(bot, "wmZhang", kind=Conversation.Kind.USER, name="张伟")
    make_conversation(bot, "wmLi", kind=Conversation.Kind.USER, name="李娜")
    make_conversation(bot, "wmLi2", kind=Conversation.Kind.USER, name="王芳")
    make_conversation(bot, "wmLi3", kind=Conversation.Kind.USER, name="王芳")


def test_ids_names_and_all_in_any_case_become_the_ids_wecom_expects(
    client, bot, make_groups, make_conversation, superuser
):
    contacts(bot, make_conversation)
    client.force_login(superuser)

    response = post_confirmed(
        client,
        "/console/announcements/new/",
        text_post(bot, make_groups(bot, 1), "wmZhang, @李娜，,@ALL, wmZhang"),
    )

    assert response.status_code == 302
    body = Announcement.objects.get().body
    assert body["text"]["mentioned_list"] == ["wmZhang", "wmLi", "@all"]


def test_ids_not_among_the_contacts_are_refused_and_named(
    client, bot, make_groups, make_conversation, superuser
):
    contacts(bot, make_conversation)
    client.force_login(superuser)

    page = client.post(
        "/console/announcements/new/",
        text_post(bot, make_groups(bot, 1), "nobody, wmZhang, ghost, 王芳"),
    ).content.decode()

    assert not Announcement.objects.exists()
    assert "不在此机器人的联系人中：nobody 和 ghost" in page
    assert "多个联系人名为 王芳" in page


def test_a_bot_without_synced_contacts_takes_the_ids_as_typed(client, bot, make_groups, superuser):
    client.force_login(superuser)

    post_confirmed(
        client, "/console/announcements/new/", text_post(bot, make_groups(bot, 1), "zhangsan, @all")
    )

    body = Announcement.objects.get().body
    assert body["text"]["mentioned_list"] == ["zhangsan", "@all"]


def test_the_mentions_field_suggests_the_bots_contacts_by_name(
    client, bot, make_bot, make_conversation, superuser
):
    contacts(bot, make_conversation)
    make_conversation(make_bot(name="rival"), "wmOther", kind=Conversation.Kind.USER, name="别人")
    client.force_login(superuser)

    page = client.get(f"/console/announcements/new/?bot={bot.pk}").content.decode()

    assert re.search(
        r'<input type="text" name="text__mentioned_list"[^>]* list="mention-contacts"', page
    )
    suggestions = page.split('<datalist id="mention-contacts">')[1].split("</datalist>")[0]
    # By pinyin: li na, wang fang, zhang wei.
    assert re.findall(r'data-id="(\w+)" label="([^"]+)"', suggestions) == [
        ("wmLi", "李娜"),
        ("wmLi2", "王芳"),
        ("wmLi3", "王芳"),
        ("wmZhang", "张伟"),
    ]


def test_the_mentions_suggestions_count_numbers_by_their_value(
    client, bot, make_conversation, superuser
):
    """Text order put 测试用户10 and 11 before 2."""
    for n in (10, 2, 11, 1, 3):
        make_conversation(bot, f"wmTest{n}", kind=Conversation.Kind.USER, name=f"测试用户{n}")
    client.force_login(superuser)

    page = client.get(f"/console/announcements/new/?bot={bot.pk}").content.decode()

    suggestions = page.split('<datalist id="mention-contacts">')[1].split("</datalist>")[0]
    assert re.findall(r'label="([^"]+)"', suggestions) == [
        "测试用户1",
        "测试用户2",
        "测试用户3",
        "测试用户10",
        "测试用户11",
    ]


def test_the_announcements_page_names_the_contacts_it_mentions_as_the_compose_page_did(
    client, bot, make_groups, make_conversation, superuser, make_announcement
):
    """Typed as names, stored as IDs (WeCom's), shown as names again; an ID the contact
    sync does not know (or no longer knows) is shown as it is."""
    contacts(bot, make_conversation)
    groups = make_groups(bot, 1)
    text = make_announcement(
        bot,
        groups,
        body={
            "msgtype": "text",
            "text": {"content": "开会", "mentioned_list": ["wmZhang", "wmGone", "@all"]},
        },
    )
    markdown = make_announcement(
        bot, groups, body={"msgtype": "markdown", "markdown": {"content": "请 <@wmLi> 确认"}}
    )
    client.force_login(superuser)

    page = client.get(f"/console/announcements/{text.pk}/").content.decode()
    drawn = client.get(f"/console/announcements/{markdown.pk}/").content.decode()

    mentions = re.search(r'<p class="mentions">(.*?)</p>', page)[1]
    assert re.findall(r'<span class="mention"(?: title="(\w+)")?>([^<]*)</span>', mentions) == [
        ("wmZhang", "@张伟"),
        ("wmGone", "@wmGone"),
        ("", "@all"),
    ]
    assert "@李娜" in drawn and "@wmLi" not in drawn


def test_naming_the_mentions_costs_one_query_however_many_there_are(
    client, bot, make_groups, make_conversation, superuser, make_announcement
):
    groups = make_groups(bot, 1)
    for i in range(30):
        make_conversation(bot, f"wmUser{i}", kind=Conversation.Kind.USER, name=f"同事{i}")
    one, many = (
        make_announcement(
            bot,
            groups,
            body={"msgtype": "text", "text": {"content": "开会", "mentioned_list": ids}},
        )
        for ids in (["wmUser0"], [f"wmUser{i}" for i in range(30)])
    )
    client.force_login(superuser)

    one_page = get_counting_queries(client, f"/console/announcements/{one.pk}/")
    many_page = get_counting_queries(client, f"/console/announcements/{many.pk}/")

    assert "@同事29" in many_page.response.content.decode()
    assert len(many_page) == len(one_page)


def test_the_compose_previews_markdown_names_the_bots_contacts(
    client, bot, make_conversation, superuser
):
    contacts(bot, make_conversation)
    client.force_login(superuser)
    data = {"msgtype": "markdown", "content": "请 <@wmZhang> 和 <@wmNobody> 确认"}

    named = client.post("/console/announcements/message-preview/", {**data, "bot": bot.pk})
    unnamed = client.post("/console/announcements/message-preview/", data)

    assert "@张伟" in named.content.decode() and "@wmNobody" in named.content.decode()
    assert "@wmZhang" in unnamed.content.decode()
