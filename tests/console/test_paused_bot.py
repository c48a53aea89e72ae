"""A bot paused by delivery (an agent's 401) seen and fixed from the console: the audit
log records the pause, the pages say why messages wait, and who may fix it resumes it."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils.html import strip_tags

from announcements.fanout import fan_out
from announcements.scheduler import start_due_announcements
from audit.models import OperatorAction
from botadmin.reasons import Reason
from conversations import connections, pauses
from conversations.models import Bot, SyncRun
from messaging.delivery import deliver
from messaging.models import Message
from tests.announcements.conftest import make_announcement  # noqa: F401  (its fixture)
from tests.messaging.conftest import drain

TEXT = {"msgtype": "text", "text": {"content": "值班提醒"}}


@pytest.fixture
def refused_token(bridge_bot):
    """The bot's token is not the agent's: its next delivery answers 401."""
    right = bridge_bot.agent_token
    Bot.objects.filter(pk=bridge_bot.pk).update(agent_token="x" * 40)
    bridge_bot.refresh_from_db()
    return right


@pytest.fixture
def paused_bot(bridge_bot, refused_token, make_conversation, queue_message, clock):
    """Paused by delivery after a 401, with two messages waiting in other conversations."""
    groups = [make_conversation(bridge_bot, f"wrDuty{n}", name=f"值班群{n}") for n in range(3)]
    first, *_waiting = [queue_message(group, TEXT) for group in groups]
    assert deliver(first.pk, clock).result == "failed"
    bridge_bot.refresh_from_db()
    assert bridge_bot.paused_at is not None
    return bridge_bot


def body(response) -> str:
    return response.content.decode()


def test_a_pause_by_delivery_is_in_the_audit_log_with_its_reason_and_the_waiting_count(
    client, make_operator, paused_bot
):
    client.force_login(make_operator("alice", paused_bot))
    url = reverse("console:operator_actions")

    page = body(client.get(url + "?action=bot.pause_sending"))

    assert '<option value="bot.pause_sending" selected>暂停了发送</option>' in page
    rows = strip_tags(page.split("<tbody>")[1])
    assert "暂停了发送" in rows and "系统" in rows
    assert "由投递" in rows and "请检查代理令牌（连接器设置）" in rows
    assert "2 条消息在等待" in rows
    entry = OperatorAction.objects.get(action="bot.pause_sending")
    assert entry.actor is None and entry.bot == paused_bot and entry.details["waiting"] == 2


def test_a_pause_by_the_long_connection_names_it_in_the_audit_log(client, make_operator, bot):
    client.force_login(make_operator("alice", bot))
    connections.refused(bot.pk, "gateway-1", "WeCom refused the secret")

    rows = strip_tags(body(client.get(reverse("console:operator_actions"))).split("<tbody>")[1])

    assert "暂停了发送" in rows and "由长连接" in rows and "WeCom refused the secret" in rows
    assert "0 条消息在等待" in rows


def test_a_bot_paused_already_is_not_paused_or_recorded_again(paused_bot, clock):
    assert not pauses.pause_bot(paused_bot.pk, "risk control", clock())
    assert OperatorAction.objects.filter(action="bot.pause_sending").count() == 1


# --- Resuming from the bot page ---------------------------------------------------


def test_a_bot_admin_fixes_the_token_tests_and_resumes_and_the_waiting_messages_go_out(
    client, make_operator, paused_bot, refused_token, agent, clock
):
    client.force_login(make_operator("alice", paused_bot))
    page_url = reverse("console:bot", args=[paused_bot.pk])
    resume_url = reverse("console:bot_resume", args=[paused_bot.pk])

    page = body(client.get(page_url))
    assert 'id="paused"' in page and "请检查代理令牌（连接器设置）" in page
    assert "恢复发送（2 条消息在等待）" in strip_tags(page) and resume_url in page
    assert 'id="resume-offer"' not in page  # no test has passed since the pause

    # The operator puts the right token back, and the connection test passes.
    Bot.objects.filter(pk=paused_bot.pk).update(agent_token=refused_token)
    tested = client.post(reverse("console:bot_test", args=[paused_bot.pk]), follow=True)
    offer = body(tested).split('id="resume-offer"')[1].split("</p>")[0]
    assert "测试通过" in strip_tags(offer) and resume_url in offer

    confirm = body(client.get(resume_url))
    assert 'id="confirm-resume"' in confirm and "2 条等待中的消息" in confirm
    assert Bot.objects.get(pk=paused_bot.pk).paused_at is not None  # a GET changes nothing

    resumed = client.post(resume_url, follow=True)

    assert "已恢复发送" in body(resumed) and 'id="paused"' not in body(resumed)
    paused_bot.refresh_from_db()
    assert paused_bot.paused_at is None
    assert OperatorAction.objects.get(action="bot.resume_sending").actor.username == "alice"
    drain(clock)
    assert len(agent.sent) == 2


def test_an_operator_who_may_not_resume_is_told_who_can_and_is_refused(
    client, make_operator, paused_bot
):
    make_operator("bob", paused_bot)  # a bot admin
    olga = make_operator("olga", paused_bot)
    olga.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(olga)
    resume_url = reverse("console:bot_resume", args=[paused_bot.pk])

    page = body(client.get(reverse("console:bot", args=[paused_bot.pk])))

    assert resume_url not in page
    who = strip_tags(page.split('id="who-may-resume"')[1].split("</p>")[0])
    assert "bob" in who and "olga" not in who
    assert client.get(resume_url).status_code == 403
    assert client.post(resume_url).status_code == 403
    assert Bot.objects.get(pk=paused_bot.pk).paused_at is not None


def test_another_bots_operator_cannot_even_see_the_resume_page(client, make_operator, paused_bot):
    client.force_login(make_operator("eve"))
    assert client.post(reverse("console:bot_resume", args=[paused_bot.pk])).status_code == 404


def test_resuming_a_bot_that_sends_says_so_and_records_nothing(operator_client, bot):
    answer = operator_client.post(reverse("console:bot_resume", args=[bot.pk]), follow=True)
    assert "此机器人的发送没有暂停" in body(answer)
    assert not OperatorAction.objects.filter(action="bot.resume_sending").exists()


# --- What waits for a paused bot says so ------------------------------------------


@pytest.fixture
def announced_to_paused_bot(
    bridge_bot,
    refused_token,
    make_conversation,
    make_announcement,  # noqa: F811
    clock,
):
    """An announcement to three groups of a bot whose token the agent refuses: the first
    message fails with 401 and pauses the bot; the other two wait."""
    groups = [make_conversation(bridge_bot, f"wrDuty{n}", name=f"值班群{n}") for n in range(3)]
    announcement = make_announcement(bridge_bot, groups, title="值班群广播")
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    first = Message.objects.filter(announcement_run_id=run_id).order_by("pk").first()
    assert deliver(first.pk, clock).result == "failed"
    return announcement, run_id


def recipient_row(html: str, message: Message) -> str:
    return html.split(f'data-msgid="{message.msgid}"')[1].split("</tr>")[0]


def test_an_announcement_to_a_paused_bot_says_why_its_recipients_wait(
    client, make_operator, bridge_bot, announced_to_paused_bot
):
    announcement, run_id = announced_to_paused_bot
    client.force_login(make_operator("op1", bridge_bot))

    page = body(client.get(reverse("announcements:detail", args=[announcement.pk])))

    banner = strip_tags(page.split('id="paused"')[1].split("</div>")[0])
    assert "此机器人已暂停发送：" in banner and "请检查代理令牌（连接器设置）" in banner
    assert "消息会排队，恢复后发送" in banner
    assert reverse("console:bot", args=[bridge_bot.pk]) + "#paused" in page
    waiting = Message.objects.filter(announcement_run_id=run_id, status="queued")
    assert waiting.count() == 2
    for message in waiting:
        assert '<span class="badge waiting">等待：机器人已暂停</span>' in recipient_row(
            page, message
        )


def test_retrying_the_failed_recipients_into_a_paused_bot_says_they_wait(
    client, make_operator, bridge_bot, announced_to_paused_bot
):
    announcement, run_id = announced_to_paused_bot
    client.force_login(make_operator("op1", bridge_bot))

    answer = client.post(
        reverse("announcements:act", args=[announcement.pk, "retry"]), {"run": run_id}, follow=True
    )

    flash = strip_tags(body(answer).split('class="flash"')[1].split("</ul>")[0])
    assert "此机器人的发送已暂停：它们会等待，直到在机器人页面上恢复发送。" in flash
    assert Message.objects.filter(announcement_run_id=run_id, status="queued").count() == 3


def test_the_history_of_a_paused_bots_conversation_says_its_message_waits_for_the_resume(
    client, make_operator, paused_bot
):
    client.force_login(make_operator("op1", paused_bot))
    waiting = Message.objects.filter(bot=paused_bot, status="queued").order_by("pk").first()
    url = reverse("console:history", args=[paused_bot.pk, waiting.conversation_id])

    page = body(client.get(url))

    assert "此机器人已暂停发送：" in strip_tags(page.split('id="paused"')[1].split("</div>")[0])
    assert "等待：机器人已暂停" in page

    # Once resumed, the same (unchanged) message no longer says so: the cached bubble is not reused.
    client.force_login(make_operator("alice", paused_bot))
    client.post(reverse("console:bot_resume", args=[paused_bot.pk]))
    assert "等待：机器人已暂停" not in body(client.get(url))


def test_compose_for_a_paused_bot_says_so_and_for_a_failing_one_warns(
    client, make_operator, paused_bot, bot
):
    client.force_login(make_operator("op1", paused_bot, bot))
    compose = reverse("announcements:compose")

    paused = body(client.get(compose + f"?bot={paused_bot.pk}"))
    assert "此机器人已暂停发送：" in strip_tags(paused.split('id="paused"')[1].split("</div>")[0])

    fine = body(client.get(compose + f"?bot={bot.pk}"))
    assert 'id="paused"' not in fine and 'id="bot-trouble"' not in fine
    SyncRun.objects.create(
        bot=bot,
        trigger="console",
        outcome="failed",
        error=Reason("agent unreachable: %(error)s", error="timeout"),
    )
    client.post(reverse("console:bot_test", args=[bot.pk]))  # the bot's agent is not running

    warned = strip_tags(body(client.get(compose + f"?bot={bot.pk}")).split('id="bot-trouble"')[1])
    assert "最近一次连接测试失败" in warned and "最近一次联系人同步失败" in warned


# --- The dashboard ----------------------------------------------------------------


def test_the_dashboard_lists_a_paused_bot_first_with_its_reason_and_no_refused_call_as_contact(
    client, make_operator, make_bot, paused_bot
):
    first_by_name = make_bot(name="aaa")
    client.force_login(make_operator("op1", paused_bot, first_by_name))

    response = client.get(reverse("console:dashboard"))

    agents = response.context["agents"]
    assert [a.bot for a in agents] == [paused_bot, first_by_name]
    assert agents[0].last_contact is None  # the agent's only answer was the 401
    page = body(response)
    assert "最近成功联系" in page
    row = strip_tags(page.split("<tbody>")[1].split("</tr>")[0])
    assert paused_bot.name in row and "已暂停" in row and "请检查代理令牌（连接器设置）" in row


# --- A recipient behind earlier messages of its conversation --------------------


def test_a_recipient_behind_earlier_messages_of_its_conversation_says_how_many(
    client,
    make_operator,
    bridge_bot,
    make_conversation,
    make_announcement,  # noqa: F811
    queue_message,
):
    busy, quiet = (make_conversation(bridge_bot, f"wr{n}", name=n) for n in ("busy", "quiet"))
    for _ in range(3):  # API messages queued before the announcement
        queue_message(busy, TEXT)
    announcement = make_announcement(bridge_bot, [busy, quiet])
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    client.force_login(make_operator("op1", bridge_bot))
    url = reverse("announcements:detail", args=[announcement.pk])

    page = body(client.get(url))

    mine = Message.objects.filter(announcement_run_id=run_id)
    assert "排在此会话 3 条较早的消息之后" in recipient_row(page, mine.get(conversation=busy))
    assert "较早的消息" not in recipient_row(page, mine.get(conversation=quiet))
