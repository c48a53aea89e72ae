"""A bot saved in the admin is checked once. Its form was checked twice per save: once
as the row was read unlocked, to look its URLs' hosts up before the row's lock, and again
under the lock, so every other check (the unique name, the webhook URL against the bot's
other endpoints, the connector's settings) was made twice."""

from django.urls import reverse

from conversations.models import Bot
from tests.conversations.test_admin_stale_tabs import bot_tab
from tests.counted_queries import counting_queries

SLOW_AGENT = "http://agent.slow.example:7600"
NAME_CHECK = 'FROM "conversations_bot" WHERE ("conversations_bot"."name" = '


def test_a_bot_saved_in_the_admin_has_its_name_checked_once_and_its_url_looked_up_once(
    client, superuser, bot, slow_resolver
):
    client.force_login(superuser)
    form = bot_tab(client, bot)

    with counting_queries() as queries:
        saved = client.post(
            reverse("admin:conversations_bot_change", args=[bot.pk]),
            {**form, "name": "acme-2", "agent_url": SLOW_AGENT},
        )

    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert (Bot.objects.get(pk=bot.pk).name, Bot.objects.get(pk=bot.pk).agent_url) == (
        "acme-2",
        SLOW_AGENT,
    )
    name_checks = [query["sql"] for query in queries if NAME_CHECK in query["sql"]]
    assert len(name_checks) == 1, name_checks
    assert slow_resolver.lookups == 1
