"""A paused bot's banner reads as one message in both languages at 1366 and 390 px: that
sending is paused, the cause and where to fix it (the reason's), since when in the
language's own parentheses, then the Resume sending button and a hint that fits the
cause: an app bot's (a send paused it) to test the connection, then resume; an AI bot's
whose credentials WeCom refused to resume once they are fixed, as no gateway connects it
(and no connection test can pass) before. Screenshots in test-artifacts/console/
(paused-hint-*)."""

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from connectors.aibot_session import refusal
from connectors.wecom_app_answers import trusted_ip_reason
from conversations import connections
from conversations.pauses import pause_bot
from tests.browser import ARTIFACTS, needs_chromium

from .browser import ADMIN_PASSWORD, each_language_and_width, log_in, shoot

pytestmark = needs_chromium

REASON = {
    ("aibot", "zh"): "发送已暂停：企业微信拒绝了智能机器人的机器人 ID 或 Secret（853000 invalid "
    "bot_id or secret）：请在机器人的连接器设置中更正。（自 ",
    ("aibot", "en"): "Sending is paused:WeCom refused the AI bot's bot ID or secret (853000 "
    "invalid bot_id or secret): correct them in the bot's connector settings.(since ",
    ("app", "zh"): "发送已暂停：企业微信拒绝来自 203.0.113.7 的调用（60020）：请在企业微信管理后台"
    "把它加入该应用的企业可信IP。（自 ",
    ("app", "en"): "Sending is paused:WeCom refuses calls from 203.0.113.7 (60020): add it to "
    "the app's 企业可信IP (trusted IPs) in WeCom's admin console.(since ",
}
HINT = {
    (
        "aibot",
        "zh",
    ): "修复后请恢复发送：网关此时才会重新连接（仅保存设置不会恢复发送，在此之前连接测试"
    "也不会通过）。",
    ("aibot", "en"): "Once the cause is fixed, resume: only then does the gateway connect "
    "again (saving the settings does not resume sending, and a connection test cannot pass "
    "before).",
    ("app", "zh"): "修复后，先测试连接，再恢复发送。",
    ("app", "en"): "Once the cause is fixed, test the connection, then resume.",
}
# English's spaces around the reason are margins (inner_text has none); Chinese needs none:
# its full-width colon and parentheses space themselves.
MARGIN = {"lead": "marginRight", "since": "marginLeft"}
# Neither says where to fix it (the reason does) nor, in the reason, to resume (the button).
NOT_SAID = ("connector settings below", "下方的连接器设置", "Resume sending on", "点击“恢复发送”")


def test_a_paused_bots_banner_says_the_cause_where_to_fix_it_and_a_hint_that_fits_it(
    page, transactional_db, make_bot
):
    get_user_model().objects.create_superuser("admin", "", ADMIN_PASSWORD)
    aibot = make_bot(
        name="helper-ai",
        connector="wecom_aibot",
        agent_url="",
        agent_token="",
        connector_settings={"bot_id": "bot1", "bot_secret": "wrong"},
    )
    assert connections.claim(aibot.pk, "gateway-a", 60)
    refused = refusal({"errcode": 853000, "errmsg": "invalid bot_id or secret"})
    connections.refused(aibot.pk, "gateway-a", refused)
    app = make_bot(name="hr-app", connector="wecom_app", agent_url="", agent_token="")
    ip = trusted_ip_reason("not allow to access from your ip, from ip: 203.0.113.7")
    pause_bot(app.pk, ip, timezone.now())
    log_in(page)
    page.wait_for_selector(".topbar")
    pages = {
        name: reverse("console:bot", args=[bot.pk])
        for name, bot in (("aibot", aibot), ("app", app))
    }

    too_wide = {}
    for language, viewport, name in each_language_and_width(page, pages):
        banner = page.locator("#paused")
        shoot(page, f"paused-hint-{name}-{language}-{viewport['width']}")
        banner.scroll_into_view_if_needed()
        banner.screenshot(path=page_artifact(f"paused-hint-{name}-{language}-{viewport['width']}"))
        text = " ".join(banner.inner_text().split())
        assert REASON[name, language] in text, text
        assert HINT[name, language] in text, text
        assert not [words for words in NOT_SAID if words in text], text
        assert banner.locator("#resume-sending").is_visible()
        for part, side in MARGIN.items():
            gap = banner.locator(f".paused-{part}").evaluate(
                f"e => parseFloat(getComputedStyle(e).{side})"
            )
            assert (gap > 0) == (language == "en"), (part, language, gap)
        linked = banner.locator('#resume-hint a[href="#connection"]').count()
        assert linked == (name == "app"), text  # the connection test, where it can pass
        if page.evaluate("document.documentElement.scrollWidth") > viewport["width"]:
            too_wide[(name, language, viewport["width"])] = True
    assert too_wide == {}


def page_artifact(name: str):
    folder = ARTIFACTS / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-banner.png"
