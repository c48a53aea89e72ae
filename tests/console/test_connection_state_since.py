"""Wherever the console shows a long connection's state (the bot page and its live refresh,
the dashboard, the admin's bot page) it says since when, as /metrics does: "正在重连 · 自
09:30 起" / "Reconnecting · since 09:30", a time of another day with its day (clock_time)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import strip_tags

from conversations import connections
from conversations.models import Bot, BotConnection
from messaging.status_labels import clock_time

WORDS = {
    "zh-hans": {"retrying": "正在重连", "idle": "未连接", "since": "自 {} 起"},
    "en": {"retrying": "Reconnecting", "idle": "Not connected", "since": "since {}"},
}


def ai_bot(operator) -> Bot:
    bot = Bot.objects.create(
        name="helper",
        connector="wecom_aibot",
        connector_settings={"bot_id": "bot1", "bot_secret": "s"},
    )
    bot.operators.add(operator)
    return bot


def reconnecting_since(bot, moment) -> None:
    assert connections.claim(bot.pk, "host-1:42:ab", lease_seconds=3600)
    connections.note(bot.pk, "host-1:42:ab", state="retrying", last_error="closed")
    BotConnection.objects.filter(pk=bot.pk).update(state_changed_at=moment)


def shown(page: str, start: str, end: str) -> str:
    """The words between `start` and `end`, their spaces as a reader sees them."""
    return " ".join(strip_tags(page.split(start)[1].split(end)[0]).split())


def bot_page_state(client, bot) -> str:
    page = client.get(reverse("console:bot", args=[bot.pk])).content.decode()
    return shown(page, 'id="connection-shown-state">', "</dd>")


def live_state(client, bot) -> str:
    live = client.get(reverse("console:bot_connection_status", args=[bot.pk])).json()["html"]
    return shown(live, 'id="connection-shown-state">', "</dd>")


def dashboard_state(client, bot) -> str:
    page = client.get(reverse("console:dashboard")).content.decode()
    line = page.split('class="small connection')[1].split(">", 1)[1].split("</time>")[0]
    return " ".join(strip_tags(line).split())


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("ago", [timedelta(hours=3), timedelta(days=3)], ids=["3h-ago", "3d-ago"])
def test_the_bot_page_and_the_dashboard_say_since_when_a_bot_is_reconnecting(
    client, make_operator, language, ago
):
    operator = make_operator("alice")
    bot = ai_bot(operator)  # in the server's zone, which the dashboard shows too
    moment = (timezone.now() - ago).replace(second=0, microsecond=0)
    reconnecting_since(bot, moment)
    client.force_login(operator)
    client.cookies["django_language"] = language

    page, live = bot_page_state(client, bot), live_state(client, bot)
    dashboard = dashboard_state(client, bot)

    with translation.override(language):
        when = clock_time(moment)
    words = WORDS[language]
    zone = timezone.localtime(moment).strftime("%Z")
    assert page == live == f"{words['retrying']} {words['since'].format(f'{when} {zone}')}", page
    assert dashboard == f"{words['retrying']} {words['since'].format(when)}", dashboard


def test_the_admins_bot_page_says_since_when_its_connection_is_in_its_state(
    admin_client, make_operator
):
    bot = ai_bot(make_operator("alice"))
    moment = (timezone.now() - timedelta(days=3)).replace(second=0, microsecond=0)
    reconnecting_since(bot, moment)

    page = admin_client.get(f"/admin/conversations/bot/{bot.pk}/change/").content.decode()

    line = shown(page, 'class="connection connection-retrying">', "<br>")
    assert line == f"正在重连 · 自 {clock_time(moment)} 起", line


def test_the_bot_page_shows_a_bot_whose_gateway_went_without_a_word_as_the_dashboard_does(
    client, make_operator
):
    """Not "Connected" as its row still says: "Not connected" since its lease ran out."""
    operator = make_operator("alice")
    bot = ai_bot(operator)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    assert connections.claim(bot.pk, "gw-dead", lease_seconds=60, now=an_hour_ago)
    connections.note(bot.pk, "gw-dead", state="connected", connected_since=an_hour_ago)
    client.force_login(operator)

    page = bot_page_state(client, bot)
    dashboard = dashboard_state(client, bot)

    ran_out = clock_time(an_hour_ago + timedelta(seconds=60))
    assert page.startswith(f"未连接 自 {ran_out} "), page
    assert dashboard == f"未连接 自 {ran_out} 起", dashboard
