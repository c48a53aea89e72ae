"""A bot's admin page saved from a tab opened before another tab (or another user)
changed the bot's own fields, not only its connector: the name, the on/off switch, the
rate limit, the webhook URL, the operators. What the stale tab left as it showed it
keeps the newer value; what it changed there too is refused, naming the field and its
value now, and saved when posted again."""

import html

import pytest

from conversations.models import Bot
from tests.conversations.test_admin_stale_tabs import bot_tab, save
from tests.html_forms import submitted_form

REFUSED = {
    "en": "Not saved: after this page was opened, another tab or user changed what this page "
    "changes too. Name is now “acme-ops”; Send rate limit (messages per minute) is now “50”.",
    "zh-hans": "未保存：本页打开后，其他标签页或其他用户也修改了本页要修改的内容。"
    "名称现为“acme-ops”；发送频率上限（每分钟消息数）现为“50”。",
}


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def saved(response) -> None:
    assert response.status_code == 302, response.content.decode()[:3000]


def test_a_tab_opened_before_another_switched_the_bot_off_renames_it_and_leaves_it_off(
    admin_client, bot
):
    """Operator A switches the bot off; B's tab, opened before, saves a rename: it
    switched the bot back on, unseen (its page still showed the box ticked)."""
    stale = bot_tab(admin_client, bot)
    fresh = bot_tab(admin_client, bot)
    del fresh["is_active"]  # the box unticked
    saved(save(admin_client, bot, fresh))
    assert not Bot.objects.get(pk=bot.pk).is_active

    saved(save(admin_client, bot, stale, name="acme-renamed"))

    bot.refresh_from_db()
    assert (bot.name, bot.is_active) == ("acme-renamed", False)


def test_a_tab_opened_before_another_changed_the_webhook_url_and_name_keeps_both(admin_client, bot):
    """Its rate limit saved, it put back the webhook URL and the name it showed."""
    stale = bot_tab(admin_client, bot)
    new_url = "http://127.0.0.1:9/hook?token=abc"
    saved(save(admin_client, bot, bot_tab(admin_client, bot), webhook_url=new_url, name="acme-2"))

    saved(save(admin_client, bot, stale, rate_limit_per_minute="9"))

    bot.refresh_from_db()
    assert (bot.webhook_url, bot.name, bot.rate_limit_per_minute) == (new_url, "acme-2", 9)


def test_a_tab_opened_before_an_operator_was_added_keeps_the_operator(
    admin_client, bot, make_operator
):
    """The operators it showed were set again: the one added meanwhile lost the bot."""
    stale = bot_tab(admin_client, bot)
    alice = make_operator("alice")
    fresh = bot_tab(admin_client, bot)
    saved(save(admin_client, bot, fresh, operators=[*fresh.get("operators", []), str(alice.pk)]))
    assert list(bot.operators.all()) == [alice]

    saved(save(admin_client, bot, stale, name="acme-renamed"))

    assert list(bot.operators.all()) == [alice]
    assert Bot.objects.get(pk=bot.pk).name == "acme-renamed"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_fields_changed_in_both_tabs_are_refused_naming_their_values_now_until_saved_again(
    admin_client, bot, language
):
    """The later save overrode the other tab's rate limit and name unseen. It is refused
    whole (its quiet hours are not saved either), naming both fields and their values now;
    posted again, it is saved."""
    stale = bot_tab(admin_client, bot, language)
    saved(
        save(
            admin_client,
            bot,
            bot_tab(admin_client, bot, language),
            rate_limit_per_minute="50",
            name="acme-ops",
        )
    )
    mine = {
        "rate_limit_per_minute": "7",
        "name": "acme-mine",
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "07:00",
    }

    refused = save(admin_client, bot, stale, **mine)

    assert refused.status_code == 200
    assert REFUSED[language] in html.unescape(refused.content.decode())
    bot.refresh_from_db()
    assert (bot.rate_limit_per_minute, bot.name, bot.quiet_hours_start) == (50, "acme-ops", None)
    shown_again = submitted_form(refused.content.decode(), "bot_form")
    assert shown_again["rate_limit_per_minute"] == ["7"]
    saved(save(admin_client, bot, shown_again))
    bot.refresh_from_db()
    assert (bot.rate_limit_per_minute, bot.name) == (7, "acme-mine")
    assert str(bot.quiet_hours_start) == "22:00:00"
