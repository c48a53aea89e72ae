"""A bot's admin page saved from a tab opened before another tab (or another user)
changed the bot: it saves what it changed, and neither undoes nor silently overrides
what the other one changed."""

import pytest
from django.urls import reverse

from audit.models import OperatorAction
from conversations.models import Bot
from tests.html_forms import submitted_form

SWITCHED_MEANWHILE = {
    "en": "This bot&#x27;s connector was switched to WeCom group robot after this page was opened",
    "zh-hans": "本页打开后，此机器人的连接方式已被切换为企业微信群机器人",
}


@pytest.fixture
def logged_in_superuser(client, superuser):
    client.force_login(superuser)
    return client


def bot_tab(client, bot: Bot, language: str = "en") -> dict:
    """The change form of `bot` as a tab opened now posts it."""
    client.cookies["django_language"] = language
    page = client.get(reverse("admin:conversations_bot_change", args=[bot.pk]))
    return submitted_form(page.content.decode(), "bot_form")


def save(client, bot: Bot, form: dict, **changes):
    return client.post(
        reverse("admin:conversations_bot_change", args=[bot.pk]), {**form, **changes}
    )


def made_a_group_robot(client, bot: Bot) -> None:
    """Another tab switches the bridge bot to a group robot."""
    saved = save(client, bot, bot_tab(client, bot), connector="wecom_robot")
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert Bot.objects.get(pk=bot.pk).connector == "wecom_robot"


def test_a_tab_opened_before_another_switched_the_connector_saves_its_changes_and_keeps_the_switch(
    logged_in_superuser, bot
):
    """It switched the bot back to the connector it showed, silently undoing the switch."""
    stale = bot_tab(logged_in_superuser, bot)
    made_a_group_robot(logged_in_superuser, bot)

    saved = save(logged_in_superuser, bot, stale, rate_limit_per_minute="7")

    assert saved.status_code == 302, saved.content.decode()[:2000]
    bot.refresh_from_db()
    assert (bot.connector, bot.rate_limit_per_minute) == ("wecom_robot", 7)
    last = OperatorAction.objects.filter(action="bot.update").latest("pk")
    assert last.summary == "rate_limit_per_minute"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_connector_chosen_in_a_tab_opened_before_another_switched_it_is_refused_until_saved_again(
    logged_in_superuser, bot, language
):
    """Switched there too, to a third connector, it overrode the other switch unseen. It is
    refused once, saying what the bot is now; saved again, it switches."""
    stale = bot_tab(logged_in_superuser, bot, language)
    made_a_group_robot(logged_in_superuser, bot)
    ai_bot = {"connector": "wecom_aibot", "bot_id": "b1", "bot_secret": "s"}

    logged_in_superuser.cookies["django_language"] = language
    refused = save(logged_in_superuser, bot, stale, **ai_bot)

    assert refused.status_code == 200
    assert SWITCHED_MEANWHILE[language] in refused.content.decode()
    assert Bot.objects.get(pk=bot.pk).connector == "wecom_robot"
    shown_again = submitted_form(refused.content.decode(), "bot_form")
    assert shown_again["connector"] == ["wecom_aibot"]
    again = save(logged_in_superuser, bot, shown_again, bot_secret="s")
    assert again.status_code == 302, again.content.decode()[:2000]
    assert Bot.objects.get(pk=bot.pk).connector == "wecom_aibot"


def test_a_tab_opened_before_another_switched_the_connector_keeps_the_new_connectors_settings(
    logged_in_superuser, bot
):
    """It showed the AI bot's settings as they were before the other tab gave them: saved
    for its rate limit, it put them back (an optional one cleared), or was refused for
    the bot ID it showed empty, though it changed neither."""
    stale = bot_tab(logged_in_superuser, bot)
    ai_bot = {"bot_id": "aibBBBB", "bot_secret": "s", "ws_url": "wss://gw.example/ws"}
    switched = save(
        logged_in_superuser,
        bot,
        bot_tab(logged_in_superuser, bot),
        connector="wecom_aibot",
        **ai_bot,
    )
    assert switched.status_code == 302, switched.content.decode()[:2000]

    saved = save(logged_in_superuser, bot, stale, rate_limit_per_minute="7")

    assert saved.status_code == 302, saved.content.decode()[:2000]
    bot.refresh_from_db()
    assert (bot.connector, bot.rate_limit_per_minute) == ("wecom_aibot", 7)
    assert bot.connector_settings == ai_bot
    last = OperatorAction.objects.filter(action="bot.update").latest("pk")
    assert last.summary == "rate_limit_per_minute"
