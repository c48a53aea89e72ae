"""An AI bot WeCom refused the credentials of is paused (connections.refused): its page says
what to do in the console, truly: correct the settings, then press Resume sending, which
the page offers; saving the corrected settings alone does not resume it. The fake WeCom
is a real WebSocket server on 127.0.0.1 that refuses a wrong secret (853000)."""

from html import unescape

from django.urls import reverse
from django.utils.html import strip_tags

from conversations.models import Bot
from tests.html_forms import submitted_form
from tests.polling import wait_until

TOLD = {
    "zh-hans": "请在机器人的连接器设置中更正，然后在机器人页面上点击“恢复发送”（仅保存设置不会恢复发送）",
    "en": "correct them in the bot's connector settings, then press Resume sending on the "
    "bot's page (saving the settings does not resume it)",
}


def test_a_refused_ai_bot_says_to_press_resume_sending_which_its_page_offers_and_saving_does_not_do(
    aibot_server, make_aibot, start_gateway, client, make_operator
):
    bot = make_aibot(secret="wrong")
    start_gateway()
    assert wait_until(lambda: Bot.objects.get(pk=bot.pk).paused_at is not None, timeout=30)
    client.force_login(make_operator("ops", bot))
    page_url = reverse("console:bot", args=[bot.pk])

    for language in ("zh-hans", "en"):
        client.cookies["django_language"] = language
        page = client.get(page_url).content.decode()
        assert TOLD[language] in unescape(strip_tags(page)), language
        assert 'id="resume-sending"' in page

    form = submitted_form(client.get(page_url).content.decode(), "connector-form")
    client.post(
        reverse("console:bot_connector", args=[bot.pk]), form | {"settings-bot_secret": "secret1"}
    )

    bot.refresh_from_db()
    assert bot.connector_settings["bot_secret"] == "secret1"
    assert bot.paused_at is not None
