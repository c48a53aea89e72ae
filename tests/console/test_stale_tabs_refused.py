"""The console's bot and endpoint forms saved from a tab opened before another tab (or
another operator) changed the same field: the later save overrode the other one unseen.
It is refused, naming the field and its value now; nothing of it is saved; posted again
as shown, it is."""

import html
import re

import pytest
from django.db import connection
from django.urls import reverse

from conversations.models import Bot
from forwarding.models import WebhookEndpoint
from tests.db_faults import written_elsewhere
from tests.html_forms import submitted_form

SENDING_REFUSED = {
    "en": "Not saved: after this page was opened, another tab or user changed what this page "
    "changes too. Send rate limit (messages per minute) is now “50”.",
    "zh-hans": "未保存：本页打开后，其他标签页或其他用户也修改了本页要修改的内容。"
    "发送频率上限（每分钟消息数）现为“50”。",
}
ENDPOINT_REFUSED = {
    "en": "Not saved: after this page was opened, another tab or user changed what this page "
    "changes too. URL is now “http://127.0.0.1:9/theirs?token=********”.",
    "zh-hans": "未保存：本页打开后，其他标签页或其他用户也修改了本页要修改的内容。"
    "URL现为“http://127.0.0.1:9/theirs?token=********”。",
}


def sending_tab(client, bot, language: str) -> dict:
    client.cookies["django_language"] = language
    page = client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    return submitted_form(page, "sending-form")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_rate_limit_changed_in_two_tabs_is_refused_naming_the_value_now_until_saved_again(
    operator_client, bot, language
):
    stale = sending_tab(operator_client, bot, language)
    post = reverse("console:bot_sending", args=[bot.pk])
    other = operator_client.post(
        post, {**sending_tab(operator_client, bot, language), "rate_limit_per_minute": "50"}
    )
    assert other.status_code == 302

    refused = operator_client.post(
        post, {**stale, "rate_limit_per_minute": "7", "message_retention_days": "30"}
    )

    assert refused.status_code == 400
    assert SENDING_REFUSED[language] in html.unescape(refused.content.decode())
    bot.refresh_from_db()
    assert (bot.rate_limit_per_minute, bot.message_retention_days) == (50, None)
    again = operator_client.post(post, submitted_form(refused.content.decode(), "sending-form"))
    assert again.status_code == 302
    bot.refresh_from_db()
    assert (bot.rate_limit_per_minute, bot.message_retention_days) == (7, 30)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_an_endpoint_url_changed_in_two_tabs_is_refused_naming_the_url_now_masked(
    operator_client, bot, language
):
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="http://127.0.0.1:9/in")
    operator_client.cookies["django_language"] = language
    page = reverse("console:webhook", args=[bot.pk, endpoint.pk])
    change = reverse("console:webhook_change", args=[bot.pk, endpoint.pk])
    stale = submitted_form(operator_client.get(page).content.decode(), "endpoint-form")
    theirs = "http://127.0.0.1:9/theirs?token=their-secret"
    fresh = submitted_form(operator_client.get(page).content.decode(), "endpoint-form")
    assert operator_client.post(change, {**fresh, "url": theirs}).status_code == 302

    refused = operator_client.post(
        change, {**stale, "url": "http://127.0.0.1:9/mine", "description": "mine"}
    )

    assert refused.status_code == 400
    text = html.unescape(refused.content.decode())
    assert ENDPOINT_REFUSED[language] in text
    assert "their-secret" not in text
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description) == (theirs, "")
    again = submitted_form(refused.content.decode(), "endpoint-form")
    assert operator_client.post(change, again).status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description) == ("http://127.0.0.1:9/mine", "mine")


def test_an_agent_url_changed_in_two_tabs_is_refused_naming_it_masked_until_saved_again(
    operator_client, bot
):
    bot.agent_url = "http://agent:OLD-pw@10.0.0.5:7600"
    bot.save()
    operator_client.cookies["django_language"] = "en"
    page = reverse("console:bot", args=[bot.pk])
    post = reverse("console:bot_connector", args=[bot.pk])
    stale = submitted_form(operator_client.get(page).content.decode(), "connector-form")
    theirs = "http://agent:NEW-pw@10.0.0.6:7600"
    fresh = submitted_form(operator_client.get(page).content.decode(), "connector-form")
    assert operator_client.post(post, {**fresh, "settings-agent_url": theirs}).status_code == 302

    refused = operator_client.post(post, {**stale, "settings-agent_url": "http://10.0.0.7:7600"})

    text = html.unescape(refused.content.decode())
    assert "another tab or user changed what this page changes too. Agent URL is now “" in text
    assert "NEW-pw" not in text
    bot.refresh_from_db()
    assert bot.agent_url == theirs
    again = submitted_form(refused.content.decode(), "connector-form")
    assert operator_client.post(post, again).status_code == 302
    bot.refresh_from_db()
    assert bot.agent_url == "http://10.0.0.7:7600"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a write elsewhere: PostgreSQL's")
def test_an_agent_url_changed_while_a_stale_tabs_url_is_looked_up_is_not_overwritten(
    transactional_db, operator_client, bot, slow_resolver
):
    """The settings were checked against the bot as read before its lock was taken: a
    change another tab saved in between (while the new URL's host was looked up) was
    overwritten unseen. They are checked against the bot as read under its lock."""
    bot.agent_url = "http://agent.slow.example:7600/old"
    bot.save()
    operator_client.cookies["django_language"] = "en"
    page = reverse("console:bot", args=[bot.pk])
    stale = submitted_form(operator_client.get(page).content.decode(), "connector-form")
    theirs = "http://agent.slow.example:7600/theirs"

    saves = []

    def another_tab_saves():
        saves.append(
            written_elsewhere(lambda: Bot.objects.filter(pk=bot.pk).update(agent_url=theirs))
        )

    slow_resolver.meanwhile = another_tab_saves
    refused = operator_client.post(
        reverse("console:bot_connector", args=[bot.pk]),
        {**stale, "settings-agent_url": "http://agent.slow.example:7600/mine"},
    )

    assert saves and set(saves) == {"written"}, saves
    assert refused.status_code == 400
    text = html.unescape(refused.content.decode())
    assert "Agent URL is now “http://agent.slow.example:7600/theirs”" in text
    bot.refresh_from_db()
    assert bot.agent_url == theirs


FIELD_REFUSED = {
    "en": "Another tab or user changed this after this page was opened: it is now “50”.",
    "zh-hans": "本页打开后，其他标签页或其他用户修改了此项，现为“50”。",
}


def field_error(page: str, field_id: str) -> str:
    """The text of the error list drawn on the field (empty when there is none)."""
    found = re.search(rf'<ul class="errorlist" id="{field_id}_error">(.*?)</ul>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))) if found else ""


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_field_changed_in_two_tabs_is_drawn_as_refused_with_its_value_now(
    operator_client, bot, language
):
    """The refusal was only at the form's top: the field it is about looked fine."""
    stale = sending_tab(operator_client, bot, language)
    post = reverse("console:bot_sending", args=[bot.pk])
    fresh = sending_tab(operator_client, bot, language)
    assert operator_client.post(post, {**fresh, "rate_limit_per_minute": "50"}).status_code == 302

    refused = operator_client.post(
        post, {**stale, "rate_limit_per_minute": "7", "message_retention_days": "30"}
    )

    page = refused.content.decode()
    assert field_error(page, "id_rate_limit_per_minute") == FIELD_REFUSED[language]
    assert re.search(r'<input[^>]*name="rate_limit_per_minute"[^>]*aria-invalid="true"', page)
    assert field_error(page, "id_message_retention_days") == ""  # not changed elsewhere
