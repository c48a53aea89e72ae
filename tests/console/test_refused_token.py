"""An agent refusing botadmin's token (401) shows wherever the bot's state does, as soon as a
call met it (the connection test, a contact sync), with what to check, in both languages;
and no longer once a later call is accepted (a test, a sync, a send). The fake agent is a
real server on 127.0.0.1 that answers a wrong token 401."""

from django.urls import reverse
from django.utils.html import strip_tags

from conversations import sync
from conversations.models import Bot, SyncRun
from messaging.delivery import deliver

REFUSED = {"zh-hans": "凭据被拒绝", "en": "Credentials refused"}
HINT = {
    "zh-hans": "代理拒绝了 botadmin 的令牌（HTTP 401），请检查代理令牌（连接器设置）",
    "en": "The agent refused botadmin's token (HTTP 401); check the agent token",
}
RUNNING = {"zh-hans": "正常", "en": "Running"}
TEXT = {"msgtype": "text", "text": {"content": "值班提醒"}}


def fix_token(bot, token):
    Bot.objects.filter(pk=bot.pk).update(agent_token=token)
    bot.refresh_from_db()


def shown(client, bot, language) -> dict[str, str]:
    """The text of the bot list's state cell, the bot page's head and the dashboard's row."""
    client.cookies["django_language"] = language
    pages = {
        "list": client.get(reverse("console:bots")),
        "page": client.get(reverse("console:bot", args=[bot.pk])),
        "dashboard": client.get(reverse("console:dashboard")),
    }
    text = {name: strip_tags(page.content.decode()) for name, page in pages.items()}
    # What follows the bot's name: its row (the only one), the page's head and sections.
    return {name: page.split(bot.name, 1)[1] for name, page in text.items()}


def assert_refused(client, bot):
    for language in ("zh-hans", "en"):
        for where, text in shown(client, bot, language).items():
            text = text.replace("&#x27;", "'")
            assert REFUSED[language] in text, (language, where)
            assert HINT[language] in text, (language, where)


def assert_not_refused(client, bot):
    for language in ("zh-hans", "en"):
        for where, text in shown(client, bot, language).items():
            assert REFUSED[language] not in text, (language, where)
            if where == "list":
                assert RUNNING[language] in text


def test_a_connection_test_the_agent_refuses_shows_the_bot_refused_until_a_test_passes(
    client, make_operator, bridge_bot, wrong_token
):
    client.force_login(make_operator("alice", bridge_bot))
    test_url = reverse("console:bot_test", args=[bridge_bot.pk])

    client.post(test_url)

    assert_refused(client, bridge_bot)

    fix_token(bridge_bot, wrong_token)
    client.post(test_url)

    assert_not_refused(client, bridge_bot)


def test_a_contact_sync_the_agent_refuses_shows_the_bot_refused_until_a_sync_passes(
    client, make_operator, bridge_bot, wrong_token
):
    client.force_login(make_operator("alice", bridge_bot))

    assert sync.sync_now(bridge_bot, SyncRun.Trigger.COMMAND).outcome == SyncRun.Outcome.FAILED

    assert_refused(client, bridge_bot)

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
