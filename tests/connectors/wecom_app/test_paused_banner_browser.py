"""An app bot paused for a problem only an operator can fix reads, in its banner, as one
message in both languages: that sending is paused, why and what to fix, then the Resume
sending button (the reason does not say again that sending may be paused, nor where to
resume it). Screenshots in test-artifacts/console/ (app-paused-*)."""

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from connectors.wecom_app_answers import token_refusal, trusted_ip_reason
from connectors.wecom_app_api import TokenError
from conversations.pauses import pause_bot
from tests.browser import ARTIFACTS, needs_chromium
from tests.console.browser import ADMIN_PASSWORD, log_in, page, shoot  # noqa: F401 (fixture)

from .conftest import AGENT_ID

pytestmark = needs_chromium

REASONS = {
    "ip": trusted_ip_reason("not allow to access from your ip, from ip: 203.0.113.7"),
    "secret": token_refusal(TokenError("gettoken: 40001 invalid credential", 40001), AGENT_ID),
}
# What the banner's reason must not repeat: the banner says both already.
REPEATED = {
    "zh": ("如果机器人的发送已暂停", "恢复发送"),
    "en": ("if the bot's sending is paused", "if its sending is paused", "Resume sending"),
}


def test_a_paused_app_bots_banner_reads_as_one_message_in_both_languages(
    page,  # noqa: F811
    transactional_db,
    make_bot,
):
    get_user_model().objects.create_superuser("admin", "", ADMIN_PASSWORD)
    bots = {
        name: make_bot(name=f"hr-app-{name}", connector="wecom_app", agent_url="", agent_token="")
        for name in REASONS
    }
    for name, bot in bots.items():
        pause_bot(bot.pk, REASONS[name], timezone.now())
    log_in(page)
    page.wait_for_selector(".topbar")
    for language in ("zh", "en"):
        if language == "en":
            page.get_by_role("button", name="English").click()
            page.wait_for_selector('html[lang="en"]')
        for name, bot in bots.items():
            page.goto(reverse("console:bot", args=[bot.pk]))
            banner = page.locator("#paused")
            banner.wait_for()
            shoot(page, f"app-paused-{name}-{language}")
            ARTIFACTS.joinpath("console").mkdir(parents=True, exist_ok=True)
            banner.screenshot(
                path=ARTIFACTS / "console" / f"app-paused-{name}-{language}-banner.png"
            )
            reason = banner.locator("p").first.inner_text()
            assert not [words for words in REPEATED[language] if words in reason], reason
            assert banner.locator("#resume-sending").is_visible()
            lead = banner.locator(".paused-lead")
            gap = lead.evaluate("e => parseFloat(getComputedStyle(e).marginRight)")
            if language == "zh":  # a full-width colon, then the reason at once
                assert reason.startswith("发送已暂停：企业微信") and gap == 0, reason
            else:
                assert reason.startswith("Sending is paused:WeCom") and gap > 0, reason  # a margin
