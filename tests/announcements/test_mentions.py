"""@mentions on the compose page: user IDs or contact names, checked against the bot's
synced contacts; "@all" however typed is WeCom's "@all"."""

import re

from announcements.models import Announcement
from conversations.models import Conversation
from tests.announcement_posts import post_confirmed

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
    assert re.findall(r'data-id="(\w+)" label="([^"]+)"', suggestions) == [
        ("wmZhang", "张伟"),
        ("wmLi", "李娜"),
        ("wmLi2", "王芳"),
        ("wmLi3", "王芳"),
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
