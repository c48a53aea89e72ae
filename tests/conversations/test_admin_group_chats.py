"""Creating a WeCom app chat from the bot admin, against the fake WeCom app API."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import OperatorAction
from conversations.models import Conversation
from tests.connectors.wecom_app.conftest import app_api, app_bot  # noqa: F401

CHANGELIST = reverse("admin:conversations_bot_changelist")


def choose_action(client, *bots):
    """Step one: the action picked on the bot list (Django's `index` marks the list's form)."""
    return client.post(
        CHANGELIST,
        {"action": "create_group_chat", "index": 0, "_selected_action": [b.pk for b in bots]},
        follow=True,
    )


def submit_chat(client, bot, **fields):
    """Step two: the action's own form."""
    return client.post(
        CHANGELIST,
        {"action": "create_group_chat", "_selected_action": [bot.pk], "create": "1", **fields},
        follow=True,
    )


@pytest.fixture
def bot_admin(client, make_operator, app_bot):  # noqa: F811
    user = make_operator("hr", app_bot)
    client.force_login(user)
    return user


def test_a_bot_admin_creates_an_app_chat_that_is_a_group_at_once_and_audited(
    client,
    bot_admin,
    app_api,  # noqa: F811
    app_bot,  # noqa: F811
):
    form = choose_action(client, app_bot).content.decode()
    assert 'id="create-group-chat"' in form and "群聊名称" in form
    assert not app_api.chats  # nothing created by choosing the action

    done = submit_chat(client, app_bot, name="项目群", owner="zhangsan", members="lisi\nwangwu")

    assert "群聊 项目群 已创建" in done.content.decode()
    chat = Conversation.objects.get(bot=app_bot, kind=Conversation.Kind.GROUP)
    assert chat.name == "项目群" and chat.is_active and chat.member_count == 3
    assert app_api.chats[chat.conversation_id]["userlist"] == ["zhangsan", "lisi", "wangwu"]
    action = OperatorAction.objects.get(action="group_chat.create")
    assert action.actor == bot_admin and action.bot == app_bot
    assert action.details["members"] == ["zhangsan", "lisi", "wangwu"]


def test_the_actions_form_posted_twice_creates_one_chat(
    client,
    bot_admin,
    app_api,  # noqa: F811
    app_bot,  # noqa: F811
):
    form = choose_action(client, app_bot).content.decode()
    submission = re.search(r'name="submission" value="([0-9a-f]{32})"', form)[1]
    fields = {"name": "项目群", "owner": "zhangsan", "members": "lisi", "submission": submission}

    submit_chat(client, app_bot, **fields)
    again = submit_chat(client, app_bot, **fields).content.decode()

    assert "群聊 项目群 已从此页面创建过：只创建了一次。" in again
    assert len(app_api.chats) == 1
    assert Conversation.objects.filter(bot=app_bot, kind="group").count() == 1


def test_what_wecom_or_the_service_refuses_is_shown_on_the_form_and_nothing_is_made(
    client,
    bot_admin,
    app_api,  # noqa: F811
    app_bot,  # noqa: F811
):
    answer = submit_chat(client, app_bot, name="x", owner="zhangsan", members="zhangsan")

    html = answer.content.decode()
    assert 'id="create-group-chat"' in html
    assert "群聊未创建：群聊需要 2 到 2000 名成员" in html
    assert not app_api.chats and not Conversation.objects.filter(kind="group").exists()
    assert not OperatorAction.objects.filter(action="group_chat.create").exists()


def test_an_operator_who_is_no_bot_admin_cannot_create_chats(
    client,
    make_operator,
    app_api,  # noqa: F811
    app_bot,  # noqa: F811
):
    user = make_operator("olga", app_bot)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(user)

    assert "create_group_chat" not in client.get(CHANGELIST).content.decode()
    submit_chat(client, app_bot, name="项目群", owner="zhangsan", members="lisi")

    assert not app_api.chats and not Conversation.objects.filter(kind="group").exists()


def test_bots_that_cannot_create_chats_and_several_bots_are_refused_with_a_reason(
    client,
    bot_admin,
    bot,
    app_api,  # noqa: F811
    app_bot,  # noqa: F811
):
    bot.operators.add(bot_admin)

    refused = choose_action(client, bot).content.decode()
    assert "无法创建群聊" in refused and 'id="create-group-chat"' not in refused
    several = choose_action(client, bot, app_bot).content.decode()
    assert "请只选择一个机器人" in several and 'id="create-group-chat"' not in several
    assert not app_api.chats


def test_an_app_not_visible_to_the_root_department_is_told_which_permission_is_missing(
    client,
    bot_admin,
    app_api,  # noqa: F811
    app_bot,  # noqa: F811
):
    app_api.add_department(2, "研发", parentid=1)
    app_api.visible_departments = [2]  # WeCom answers appchat/create 60011

    answer = submit_chat(client, app_bot, name="项目群", owner="zhangsan", members="lisi")

    html = answer.content.decode()
    assert "企业微信拒绝了应用的 appchat/create 调用" in html
    assert "应用群聊需要根部门" in html and "60011" in html
    assert not app_api.chats and not Conversation.objects.filter(kind="group").exists()
