"""An agent refusing botadmin's token (401) shows wherever the bot's state does, as soon as a
call met it (the connection test, a contact sync), with what to check, in both languages;
and no longer once a later call is accepted (a test, a sync, a send). The fake agent is a
real server on 127.0.0.1 that answers a wrong token 401."""

from django.urls import reverse

from conversations import sync
from conversations.models import Bot, SyncRun
from messaging.delivery import deliver
from tests.refused_states import assert_not_refused, assert_refused

HINT = {
    "zh-hans": "代理拒绝了 botadmin 的令牌（HTTP 401），请检查代理令牌（连接器设置）",
    "en": "The agent refused botadmin's token (HTTP 401); check the agent token",
}
TEXT = {"msgtype": "text", "text": {"content": "值班提醒"}}


def fix_token(bot, token):
    Bot.objects.filter(pk=bot.pk).update(agent_token=token)
    bot.refresh_from_db()


def test_a_connection_test_the_agent_refuses_shows_the_bot_refused_until_a_test_passes(
    client, make_operator, bridge_bot, wrong_token
):
    client.force_login(make_operator("alice", bridge_bot))
    test_url = reverse("console:bot_test", args=[bridge_bot.pk])

    client.post(test_url)

    assert_refused(client, bridge_bot, HINT)

    fix_token(bridge_bot, wrong_token)
    client.post(test_url)

    assert_not_refused(client, bridge_bot)


def test_a_contact_sync_the_agent_refuses_shows_the_bot_refused_until_a_sync_passes(
    client, make_operator, bridge_bot, wrong_token
):
    client.force_login(make_operator("alice", bridge_bot))

    assert sync.sync_now(bridge_bot, SyncRun.Trigger.COMMAND).outcome == SyncRun.Outcome.FAILED

    assert_refused(client, bridge_bot, HINT)

    fix_token(bridge_bot, wrong_token)
    assert sync.sync_now(bridge_bot, SyncRun.Trigger.COMMAND).outcome == SyncRun.Outcome.SUCCEEDED

    assert_not_refused(client, bridge_bot)


def test_a_message_the_agent_takes_clears_a_refusal_met_before(
    client, make_operator, bridge_bot, wrong_token, make_conversation, queue_message, clock
):
    client.force_login(make_operator("alice", bridge_bot))
    client.post(reverse("console:bot_test", args=[bridge_bot.pk]))
    fix_token(bridge_bot, wrong_token)  # on the agent's side, say: no test since
    message = queue_message(make_conversation(bridge_bot, "wrDuty", name="值班群"), TEXT)

    assert deliver(message.pk, clock).result == "sent"

    assert_not_refused(client, bridge_bot)


def test_the_admins_bot_list_says_the_agent_refused_the_token_instead_of_running(
    client, superuser, bridge_bot, wrong_token
):
    client.force_login(superuser)
    client.post(reverse("console:bot_test", args=[bridge_bot.pk]))

    bots = client.get(reverse("admin:conversations_bot_changelist")).content.decode()

    assert '<strong class="bot-refused" title="代理拒绝了 botadmin 的令牌（HTTP 401）' in bots
    assert "凭据被拒绝" in bots and '<td class="field-sending_state">正常' not in bots
