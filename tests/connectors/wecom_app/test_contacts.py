"""Members from the app's contact API, and the app chats botadmin creates."""

import json

import pytest
from django.core.management import CommandError, call_command

from audit.models import OperatorAction
from conversations.models import Conversation, SyncRun


def _users(client, bot) -> list[dict]:
    return client.get("/api/users", {"secret": bot.secret}).json()["data"]


def _sync(bot) -> SyncRun:
    call_command("sync_contacts", bot.name, stdout=open("/dev/null", "w"))
    return SyncRun.objects.filter(bot=bot).latest("pk")


def test_sync_contacts_lists_the_members_of_every_visible_department_once(client, app_api, app_bot):
    # The app's own secret may not call user/list_id (the fake refuses it, as WeCom does).
    app_api.add_department(2, "研发")
    app_api.add_department(3, "后端", parentid=2)
    app_api.add_user("wangwu", "王五", department=[3])
    app_api.add_user("zhaoliu", "赵六", department=[2, 3])

    run = _sync(app_bot)

    assert run.outcome == "succeeded", run.error
    users = _users(client, app_bot)
    assert sorted((u["conversation_id"], u["name"]) for u in users) == [
        ("lisi", "李四"),
        ("wangwu", "王五"),
        ("zhangsan", "张三"),
        ("zhaoliu", "赵六"),
    ]
    assert app_api.simplelist_calls == 3  # one page per department


def test_members_named_in_the_range_or_in_its_tags_are_listed_and_stay_active(
    client, app_api, app_bot
):
    app_api.add_user("wangwu", "王五", department=[9])  # a department the app does not see
    app_api.visible_departments, app_api.visible_users = [], ["zhangsan"]
    app_api.tags = {5: {"users": ["wangwu"], "parties": []}}

    _sync(app_bot)
    second = _sync(app_bot)

    assert second.outcome == "succeeded" and second.users_deactivated == 0
    users = _users(client, app_bot)
    assert sorted((u["conversation_id"], u["name"]) for u in users) == [
        ("wangwu", "王五"),
        ("zhangsan", "张三"),
    ]


def test_a_tags_department_is_listed_with_its_subdepartments(client, app_api, app_bot):
    app_api.add_department(2, "销售", parentid=1)
    app_api.add_department(4, "华南", parentid=2)
    app_api.add_user("wangwu", "王五", department=[4])
    app_api.visible_departments = []
    app_api.tags = {5: {"users": [], "parties": [2]}}

    _sync(app_bot)

    assert [u["conversation_id"] for u in _users(client, app_bot)] == ["wangwu"]


def test_when_the_app_may_not_read_names_the_id_is_the_name(client, app_api, app_bot):
    app_api.names_readable = False
    app_api.visible_users = ["lisi"]  # named in the range: user/get answers 48002

    call_command("sync_contacts", app_bot.name, stdout=open("/dev/null", "w"))

    assert {u["name"] for u in _users(client, app_bot)} == {"zhangsan", "lisi"}


def test_a_member_who_left_is_deactivated_by_the_next_sync(client, app_api, app_bot):
    call_command("sync_contacts", app_bot.name, stdout=open("/dev/null", "w"))
    del app_api.users["lisi"]

    call_command("sync_contacts", app_bot.name, stdout=open("/dev/null", "w"))

    assert [u["conversation_id"] for u in _users(client, app_bot)] == ["zhangsan"]


def test_create_app_chat_makes_an_audited_group_conversation_at_once(
    client, app_api, app_bot, capsys
):
    call_command(
        "create_app_chat",
        bot=app_bot.name,
        name="项目群",
        owner="zhangsan",
        members="zhangsan,lisi",
    )

    printed = json.loads(capsys.readouterr().out)
    chat = Conversation.objects.get(bot=app_bot, kind="group")
    assert printed["conversation_id"] == chat.conversation_id
    assert app_api.chats[chat.conversation_id]["userlist"] == ["zhangsan", "lisi"]
    groups = client.get("/api/groups", {"secret": app_bot.secret}).json()["data"]
    assert [g["conversation_id"] for g in groups] == [chat.conversation_id]
    action = OperatorAction.objects.get(action="group_chat.create")
    assert action.bot == app_bot and action.details["members"] == ["zhangsan", "lisi"]


def test_created_app_chats_survive_a_contact_sync(client, app_api, app_bot):
    call_command("create_app_chat", bot=app_bot.name, name="群", owner="zhangsan", members="lisi")

    call_command("sync_contacts", app_bot.name, stdout=open("/dev/null", "w"))

    chat = Conversation.objects.get(bot=app_bot, kind="group")
    assert chat.is_active and chat.member_count == 2


def test_a_chat_with_one_member_is_refused(app_api, app_bot):
    with pytest.raises(CommandError, match="2 to 2000"):
        call_command(
            "create_app_chat", bot=app_bot.name, name="x", owner="zhangsan", members="zhangsan"
        )
    assert not Conversation.objects.filter(kind="group").exists()


def test_a_chat_id_given_for_a_new_chat_keeps_to_wecoms_letters_and_digits(app_api, app_bot):
    """appchat/create takes a chatid of at most 32 letters and digits (WeCom's document
    90245): another is refused before WeCom is asked, in words that say what to give."""

    def create(chatid: str) -> None:
        call_command(
            "create_app_chat",
            bot=app_bot.name,
            name="x",
            owner="zhangsan",
            members="lisi",
            chatid=chatid,
            stdout=open("/dev/null", "w"),
        )

    for chatid in ("proj-2026", "x" * 33, "项目群"):
        with pytest.raises(CommandError, match="at most 32 letters .* and digits"):
            create(chatid)
    assert app_api.chats == {} and not Conversation.objects.filter(kind="group").exists()

    create("Proj2026" + "0" * 24)
    assert list(app_api.chats) == ["Proj2026" + "0" * 24]


def test_a_bot_whose_connector_cannot_create_chats_is_refused(bot):
    with pytest.raises(CommandError, match="cannot create group chats"):
        call_command("create_app_chat", bot=bot.name, name="x", owner="a", members="a,b")


def test_createbot_prints_what_to_paste_into_wecom(capsys, db):
    call_command(
        "createbot",
        "--name=hr",
        "--connector=wecom_app",
        "--corp-id=ww1436e0e65a779aee",
        "--agent-id=1000002",
        "--app-secret=the-app-secret",
    )

    printed = json.loads(capsys.readouterr().out)
    assert printed["callback_url"] == f"/api/wecom_app/{printed['id']}/callback"
    assert len(printed["callback_token"]) == 32 and len(printed["encoding_aes_key"]) == 43
    assert "the-app-secret" not in json.dumps(printed)


def test_createbot_keeps_a_given_token_and_key_and_refuses_a_bad_key(capsys, db):
    call_command(
        "createbot",
        "--name=hr",
        "--connector=wecom_app",
        "--corp-id=ww1",
        "--agent-id=1000002",
        "--app-secret=s",
        "--callback-token=abc123",
        "--encoding-aes-key=" + "k" * 43,
    )
    printed = json.loads(capsys.readouterr().out)
    assert (printed["callback_token"], printed["encoding_aes_key"]) == ("abc123", "k" * 43)

    with pytest.raises(CommandError, match="encoding_aes_key"):
        call_command(
            "createbot",
            "--name=hr2",
            "--connector=wecom_app",
            "--corp-id=ww1",
            "--agent-id=1000002",
            "--app-secret=s",
            "--encoding-aes-key=short",
        )
