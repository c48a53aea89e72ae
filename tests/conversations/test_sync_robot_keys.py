"""Contact sync of a group robot bot against the fake WeCom robot API: every group's key
is asked about, a few at a time, and only WeCom saying the robot is gone changes a group;
a busy or silent key leaves its group as it was, counted as not checked."""

import json
import re

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import translation

from botadmin.reasons import Reason, translate
from connectors import wecom_robot_check
from conversations import sync
from conversations.models import Conversation, SyncRun
from tests.fakes.wecom import FakeWeCom


@pytest.fixture
def wecom(settings):
    with FakeWeCom(keys={"key-ok", "key-back", "key-busy"}) as fake:
        settings.WECOM_API_BASE = fake.base_url
        yield fake


@pytest.fixture
def robot_bot(make_bot, make_conversation, wecom):
    bot = make_bot(name="robots", connector="wecom_robot", agent_url="", agent_token="")
    make_conversation(bot, "g-ok", robot_key="key-ok")
    make_conversation(bot, "g-back", robot_key="key-back", is_active=False)
    return bot


def do_sync(bot) -> SyncRun:
    return sync.sync_now(bot, SyncRun.Trigger.COMMAND)


def states(bot) -> dict[str, bool]:
    return {c.conversation_id: c.is_active for c in bot.conversations.all()}


def shown_runs(client, bot, language: str) -> str:
    """The bot's sync runs as the admin's bot page shows them, as text."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    html = client.get(f"/admin/conversations/bot/{bot.pk}/sync-status/").json()["html"]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_sync_checks_each_entered_group_without_posting(robot_bot, wecom):
    run = do_sync(robot_bot)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.groups_reactivated == 1
    assert run.groups_unchecked == 0 and run.pages_fetched == 2
    assert states(robot_bot) == {"g-ok": True, "g-back": True}
    assert wecom.messages == []  # asking posts nothing
    assert sorted(key for key, _body in wecom.requests) == ["key-back", "key-ok"]
    assert {json.loads(body)["msgtype"] for _key, body in wecom.requests} == {
        "botadmin_connection_check"
    }


def test_a_busy_key_is_kept_and_reported_as_not_checked_while_the_others_are_checked(
    robot_bot, make_conversation, wecom, client, superuser
):
    """Given one group's robot answering 45009 (too many requests) and another's robot
    removed (93000, invalid webhook url), when the bot syncs, then the sync succeeds: the
    removed one is deactivated, the busy one kept as it was and counted as not checked."""
    make_conversation(robot_bot, "g-busy", robot_key="key-busy")
    make_conversation(robot_bot, "g-gone", robot_key="key-removed")  # unknown: 93000
    wecom.answer_key["key-busy"] = 45009

    run = do_sync(robot_bot)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.error == ""
    assert (run.groups_unchecked, run.groups_deactivated, run.groups_reactivated) == (1, 1, 1)
    assert states(robot_bot) == {"g-ok": True, "g-back": True, "g-busy": True, "g-gone": False}
    busy = robot_bot.conversations.get(conversation_id="g-busy")
    assert busy.last_synced_at is None  # not checked: nothing about it was learned
    client.force_login(superuser)
    shown = shown_runs(client, robot_bot, "en")
    assert "1 group could not be checked this time (busy or no answer)" in shown
    assert "1 个群聊本次无法检查" in shown_runs(client, robot_bot, "zh-hans")


def test_a_busy_group_stays_inactive_when_it_was_and_a_second_sync_changes_nothing(
    robot_bot, make_conversation, wecom
):
    make_conversation(robot_bot, "g-busy", robot_key="key-busy", is_active=False)
    wecom.answer_key["key-busy"] = 45009

    first = do_sync(robot_bot)
    second = do_sync(robot_bot)

    assert first.pk != second.pk
    assert second.outcome == SyncRun.Outcome.SUCCEEDED and second.groups_unchecked == 1
    assert (second.groups_reactivated, second.groups_deactivated) == (0, 0)
    assert states(robot_bot) == {"g-ok": True, "g-back": True, "g-busy": False}


def test_a_key_whose_connection_fails_is_kept_and_reported_as_not_checked(
    robot_bot, make_conversation, wecom
):
    make_conversation(robot_bot, "g-cut", robot_key="key-cut")
    wecom.cut_keys.add("key-cut")

    run = do_sync(robot_bot)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.groups_unchecked == 1
    assert states(robot_bot)["g-cut"] is True


def test_an_invalid_key_is_still_deactivated(robot_bot, make_conversation, wecom):
    make_conversation(robot_bot, "g-gone", robot_key="key-removed")

    run = do_sync(robot_bot)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.groups_deactivated == 1
    assert run.groups_unchecked == 0
    assert states(robot_bot) == {"g-ok": True, "g-back": True, "g-gone": False}


def test_many_groups_are_checked_a_few_at_a_time(robot_bot, wecom):
    """With each answer taking a while, several keys are asked about at once, never more
    than PARALLEL."""
    wecom.keys |= {f"key-{n}" for n in range(40)}
    Conversation.objects.bulk_create(
        Conversation(bot=robot_bot, conversation_id=f"g{n:02d}", kind="group", robot_key=f"key-{n}")
        for n in range(40)
    )
    wecom.think = 0.1

    run = do_sync(robot_bot)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.groups_unchecked == 0
    assert run.pages_fetched == 42 and all(states(robot_bot).values())
    assert len(wecom.requests) == 42
    assert 1 < wecom.most_at_once <= wecom_robot_check.PARALLEL


def test_a_sync_whose_seconds_run_out_before_any_answer_fails_and_changes_nothing(
    robot_bot, make_conversation, wecom, settings
):
    settings.BOTADMIN_ROBOT_KEY_SYNC_SECONDS = 0.3
    make_conversation(robot_bot, "g-gone", robot_key="key-removed", is_active=True)
    wecom.think = 2  # every answer comes after the budget

    run = do_sync(robot_bot)

    assert run.outcome == SyncRun.Outcome.FAILED and run.groups_unchecked == 3
    # Each probe's request ends by the sync's deadline: WeCom did not answer it.
    assert run.error == (
        "none of the 3 groups could be checked "
        "(e.g. no answer from WeCom in time: read timed out); none was changed"
    )
    assert states(robot_bot) == {"g-ok": True, "g-back": False, "g-gone": True}


def test_a_sync_that_could_check_no_group_fails_saying_why_and_changes_nothing(robot_bot, wecom):
    wecom.answer_key.update({"key-ok": 45009, "key-back": 45009})

    run = do_sync(robot_bot)

    assert run.outcome == SyncRun.Outcome.FAILED and run.groups_unchecked == 2
    assert run.error == (
        "none of the 2 groups could be checked "
        "(e.g. WeCom answered errcode 45009 to a key check); none was changed"
    )
    assert states(robot_bot) == {"g-ok": True, "g-back": False}
    with translation.override("zh-hans"):
        assert translate(run.error) == (
            "2 个群聊无法检查（例如：企业微信对密钥检查返回错误码 45009），未作更改"
        )


def test_a_sync_that_could_not_check_its_one_group_says_so_in_the_singular(
    make_bot, make_conversation, wecom
):
    bot = make_bot(name="one robot", connector="wecom_robot", agent_url="", agent_token="")
    make_conversation(bot, "g-busy", robot_key="key-busy")
    wecom.answer_key["key-busy"] = 45009

    run = do_sync(bot)

    assert run.outcome == SyncRun.Outcome.FAILED and run.groups_unchecked == 1
    assert run.error == (
        "1 group could not be checked (WeCom answered errcode 45009 to a key check); "
        "it was not changed"
    )
    with translation.override("zh-hans"):
        assert translate(run.error) == (
            "1 个群聊无法检查（例如：企业微信对密钥检查返回错误码 45009），未作更改"
        )


def test_a_failed_sync_stored_before_the_singular_still_translates(robot_bot):
    error = Reason(sync.EARLIER_NONE_CHECKED, count=1, reason="boom")
    run = SyncRun.objects.create(bot=robot_bot, trigger="command", outcome="failed", error=error)

    run.refresh_from_db()
    with translation.override("zh-hans"):
        assert translate(run.error) == "1 个群聊都无法检查（例如：boom），均未更改"


@pytest.mark.django_db(transaction=True)
def test_a_key_replaced_while_it_was_checked_keeps_the_new_keys_state(
    robot_bot, make_conversation, wecom
):
    """The verdict is about the key that was asked about: an operator entering a new key
    meanwhile is not undone by the old key's answer."""
    group = make_conversation(robot_bot, "g-gone", robot_key="key-removed")
    original = wecom.answer

    def answer_then_replace(key, raw):
        if key == "key-removed":  # the operator saves the group's new key meanwhile
            Conversation.objects.filter(pk=group.pk).update(robot_key="key-ok")
            connection.close()  # this server thread's own connection
        return original(key, raw)

    wecom.answer = answer_then_replace

    run = do_sync(robot_bot)

    assert run.outcome == SyncRun.Outcome.SUCCEEDED and run.groups_deactivated == 0
    group.refresh_from_db()
    assert group.is_active and group.robot_key == "key-ok"


def page_text(client, bot, language: str = "zh-hans") -> str:
    """The console's bot page as text, in `language`."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    html = client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_bot_page_says_how_many_robot_keys_a_sync_checked_and_how_many_no_longer_work(
    robot_bot, make_conversation, wecom, client, make_operator
):
    """It said "0 pages · +0 ~0 −0 ↺0" for a sync that had checked every key."""
    make_conversation(robot_bot, "g-gone", robot_key="key-removed")  # WeCom: 93000
    make_conversation(robot_bot, "g-gone-before", robot_key="key-removed-2", is_active=False)
    run = do_sync(robot_bot)
    assert (run.groups_not_working, run.groups_deactivated, run.groups_reactivated) == (2, 1, 1)
    client.force_login(make_operator("lihua", robot_bot))

    chinese = page_text(client, robot_bot)
    english = page_text(client, robot_bot, "en")

    assert "已检查 4 个机器人密钥 2 个已失效 −1 ↺1" in chinese
    assert "立即检查机器人密钥" in chinese and "立即同步" not in chinese
    assert "已获取页数" not in chinese  # the columns of a sync that lists contacts
    assert "Checked 4 robot keys 2 no longer work −1 ↺1" in english
    assert "Check the robot keys now" in english


def test_a_robot_bot_without_groups_offers_no_sync_and_is_not_synced_periodically(
    make_bot, make_conversation, wecom, client, make_operator, settings
):
    """It offered "Sync now", which "succeeded" with nothing, and the beat added an empty
    run every interval."""
    settings.BOTADMIN_SYNC_INTERVAL_MINUTES = 10
    bot = make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")
    client.force_login(make_operator("lihua", bot))

    shown = page_text(client, bot)
    assert "还没有要检查的群聊：请先添加每个群聊及其机器人密钥" in shown
    assert 'id="sync-now"' not in client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    pressed = client.post(reverse("console:bot_sync", args=[bot.pk]), follow=True)
    assert "还没有要检查的群聊" in pressed.content.decode()
    assert SyncRun.objects.get(bot=bot).outcome == SyncRun.Outcome.NOT_POSSIBLE
    SyncRun.objects.filter(bot=bot).delete()
    assert sync.sync_due_bots() == []

    make_conversation(bot, "g-ok", robot_key="key-ok")

    assert [run.bot for run in sync.sync_due_bots()] == [bot]
    assert 'id="sync-now"' in client.get(reverse("console:bot", args=[bot.pk])).content.decode()
