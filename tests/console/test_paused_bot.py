"""A bot paused by delivery (an agent's 401) seen and fixed from the console: the audit
log records the pause, the pages say why messages wait, and who may fix it resumes it."""

import pytest
from django.urls import reverse
from django.utils.html import strip_tags

from audit.models import OperatorAction
from conversations import connections, pauses
from conversations.models import Bot
from messaging.delivery import deliver

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
