"""A bot's form is checked under the bot's row lock, against the row it is saved over
(the admin's: conversations/admin_locking.py; the console's connector settings:
conversations.bot_changes.change_connector_settings); its URLs' host lookups, which a
slow name server makes last seconds, are made before, and the row's other writers do not
wait for them."""

import pytest
from django.db import connection
from django.urls import reverse

from conversations.models import Bot
from tests.db_faults import written_elsewhere
from tests.html_forms import submitted_form

SLOW_AGENT = "http://agent.slow.example:7600"

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a row lock: PostgreSQL's"
)


def workers_write_during_each_lookup(resolver, bot: Bot) -> list:
    """A worker keeps what the agent announced (services.refresh_connector_state) on the
    bot while the resolver looks the agent's name up; the outcome of each write."""
    writes: list = []
    state = {"msgtypes": ["text"], "checked_at": "2026-12-07T08:00:00+00:00"}

    def learned():
        Bot.objects.filter(pk=bot.pk).update(connector_state=state)

    resolver.meanwhile = lambda: writes.append(written_elsewhere(learned))
    return writes


def test_a_slow_agent_url_check_in_the_admin_holds_no_worker_writing_the_bot(
    transactional_db, client, superuser, bot, slow_resolver
):
    """The form was checked under the row's lock, the agent URL's host looked up there:
    a slow name server held every other writer of the bot (a worker keeping what the
    agent announced, one pausing the bot) till the lookup's end, seconds for each URL."""
    client.force_login(superuser)
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    form = submitted_form(client.get(url).content.decode(), "bot_form")
    writes = workers_write_during_each_lookup(slow_resolver, bot)

    saved = client.post(url, {**form, "agent_url": SLOW_AGENT})

    assert writes and set(writes) == {"written"}, writes
    assert saved.status_code == 302, saved.content.decode()[:2000]
    bot.refresh_from_db()
    assert (bot.agent_url, bot.connector_state["msgtypes"]) == (SLOW_AGENT, ["text"])


def test_a_slow_agent_url_check_in_the_console_holds_no_worker_writing_the_bot(
    transactional_db, client, make_operator, bot, slow_resolver
):
    """The settings were checked again under the row's lock, the agent URL's host looked
    up again there, holding the bot's other writers as long."""
    client.force_login(make_operator("alice", bot))
    writes = workers_write_during_each_lookup(slow_resolver, bot)

    saved = client.post(
        reverse("console:bot_connector", args=[bot.pk]), {"settings-agent_url": SLOW_AGENT}
    )

    assert writes and set(writes) == {"written"}, writes
    assert saved.status_code == 302, saved.content.decode()[:2000]
    bot.refresh_from_db()
    assert (bot.agent_url, bot.connector_state["msgtypes"]) == (SLOW_AGENT, ["text"])
