"""An AI bot WeCom refused the credentials of is paused (connections.refused): its page says
what to do in the console, truly, as one message: the reason what to fix and where, the
banner to resume once it is fixed (Resume sending, which the page offers), not to test the
connection first (no gateway connects a refused bot before it resumes); saving the
corrected settings alone does not resume it. The fake WeCom is a real WebSocket server on
127.0.0.1 that refuses a wrong secret (853000)."""

from html import unescape

from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from botadmin.reasons import Reason
from connectors.aibot_session import RESUME_REFUSED
from conversations.models import Bot
from conversations.pauses import pause_bot
from tests.html_forms import submitted_form
from tests.polling import wait_until

TOLD = {
    "zh-hans": "发送已暂停：企业微信拒绝了智能机器人的机器人 ID 或 Secret（853000 invalid bot_id "
    "or secret）：请在机器人的连接器设置中更正。（自 ",
    "en": "Sending is paused:WeCom refused the AI bot's bot ID or secret (853000 invalid "
    "bot_id or secret): correct them in the bot's connector settings.(since ",  # CSS spaces it
}
HINT = {
    "zh-hans": "修复后请恢复发送：网关此时才会重新连接（仅保存设置不会恢复发送，在此之前连接测试也"
    "不会通过）。",
    "en": "Once the cause is fixed, resume: only then does the gateway connect again (saving "
    "the settings does not resume sending, and a connection test cannot pass before).",
}


def test_a_refused_ai_bot_says_what_to_fix_then_to_resume_which_its_page_offers_and_saving_does_not_do(
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
        text = " ".join(unescape(strip_tags(page)).split())
        assert TOLD[language] in text, language
        assert HINT[language] in text, language
        assert 'id="resume-sending"' in page  # the banner offers it: the reason need not
        assert "Resume sending on the bot's page" not in page and "点击“恢复发送”" not in page
        assert 'href="#connection"' not in page.split('id="resume-hint"')[1].split("</span>")[0]

    form = submitted_form(client.get(page_url).content.decode(), "connector-form")
    client.post(
        reverse("console:bot_connector", args=[bot.pk]), form | {"settings-bot_secret": "secret1"}
    )

    bot.refresh_from_db()
    assert bot.connector_settings["bot_secret"] == "secret1"
    assert bot.paused_at is not None


def test_a_refusal_paused_with_the_earlier_wording_still_reads_in_chinese(
    make_aibot, client, make_operator
):
    bot = make_aibot(secret="wrong")
    stored = Reason(RESUME_REFUSED, errcode=853000, errmsg="invalid bot_id or secret")
    pause_bot(bot.pk, stored, timezone.now(), by="connection")
    client.force_login(make_operator("ops", bot))
    client.cookies["django_language"] = "zh-hans"

    page = client.get(reverse("console:bot", args=[bot.pk])).content.decode()

    assert "请在机器人的连接器设置中更正，然后在机器人页面上点击“恢复发送”" in unescape(page)
