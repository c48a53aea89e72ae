"""A refusal the agent gave botadmin's token is about that token: saving a new one (the
console's connector settings, the admin's bot form) drops it at once, before any test or
send; saving anything else keeps it. The fake agent is a real server on 127.0.0.1 that
answers a wrong token 401."""

from django.urls import reverse

from tests.html_forms import submitted_form
from tests.refused_states import assert_not_refused, assert_refused

from .test_refused_token import HINT


def refused_by_a_test(client, bot):
    client.post(reverse("console:bot_test", args=[bot.pk]))
    assert_refused(client, bot, HINT)


def test_saving_a_new_agent_token_in_the_console_drops_the_refusal_of_the_old_one(
    client, make_operator, bridge_bot, wrong_token
):
    client.force_login(make_operator("alice", bridge_bot))
    refused_by_a_test(client, bridge_bot)

    saved = client.post(
        reverse("console:bot_connector", args=[bridge_bot.pk]),
        {"settings-agent_url": bridge_bot.agent_url, "settings-agent_token": wrong_token},
    )

    assert saved.status_code == 302
    assert_not_refused(client, bridge_bot)


def test_saving_the_sending_settings_in_the_console_keeps_the_refusal(
    client, make_operator, bridge_bot, wrong_token
):
    client.force_login(make_operator("alice", bridge_bot))
    refused_by_a_test(client, bridge_bot)
    page = client.get(reverse("console:bot", args=[bridge_bot.pk])).content.decode()
    form = submitted_form(page, "sending-form")

    saved = client.post(
        reverse("console:bot_sending", args=[bridge_bot.pk]),
        {**form, "rate_limit_per_minute": "7"},
    )

    assert saved.status_code == 302
    bridge_bot.refresh_from_db()
    assert bridge_bot.rate_limit_per_minute == 7
    assert_refused(client, bridge_bot, HINT)


def admin_save(client, bot, **changes):
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(client.get(url).content.decode(), "bot_form")
    saved = client.post(url, {**form, **changes})
    assert saved.status_code == 302, saved.content.decode()[:3000]


def admin_says_refused(client) -> bool:
    bots = client.get(reverse("admin:conversations_bot_changelist")).content.decode()
    return 'class="bot-refused"' in bots


def test_saving_a_new_agent_token_in_the_admin_drops_the_refusal_of_the_old_one(
    client, superuser, bridge_bot, wrong_token
):
    client.force_login(superuser)
    refused_by_a_test(client, bridge_bot)
    assert admin_says_refused(client)

    admin_save(client, bridge_bot, agent_token=wrong_token)

    assert not admin_says_refused(client)
    assert_not_refused(client, bridge_bot)


def test_renaming_the_bot_in_the_admin_keeps_the_refusal(
    client, superuser, bridge_bot, wrong_token
):
    client.force_login(superuser)
    refused_by_a_test(client, bridge_bot)

    admin_save(client, bridge_bot, name="值班机器人")

    bridge_bot.refresh_from_db()
    assert bridge_bot.name == "值班机器人" and admin_says_refused(client)
    assert_refused(client, bridge_bot, HINT)
