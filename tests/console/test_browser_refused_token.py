"""A bridge bot whose agent refused botadmin's token at "Test the connection": the bots list,
the dashboard and the bot's page say so with what to check, in both languages at 1366 and
390 px, nothing wider than the screen. Screenshots in test-artifacts/console/ (refused-*)."""

from conversations.models import Bot
from tests.browser import needs_chromium

from .browser import each_language_and_width, log_in, shoot

pytestmark = needs_chromium

LABEL = {"zh": "凭据被拒绝", "en": "Credentials refused"}
HINT = {"zh": "请检查代理令牌（连接器设置）", "en": "check the agent token (connector settings)"}


def test_an_agent_refusing_the_token_at_a_test_shows_on_every_page_of_the_bots_state(page, demo):
    bot, _group = demo
    Bot.objects.filter(pk=bot.pk).update(agent_token="x" * 40)  # not the agent's
    log_in(page)
    page.goto(f"/console/bots/{bot.pk}/settings/")
    page.locator("#test-connection").click()
    page.wait_for_selector("#connection-test .badge.failed")
    pages = {
        "bots": "/console/bots/",
        "dashboard": "/console/dashboard/",
        "bot": f"/console/bots/{bot.pk}/settings/",
    }
    too_wide = {}
    for language, viewport, name in each_language_and_width(page, pages):
        shoot(page, f"refused-{name}-{language}-{viewport['width']}")
        state = page.locator(".credentials-refused").first
        assert state.inner_text() == LABEL[language]
        assert HINT[language] in page.locator(".refused-reason").first.inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            too_wide[(language, name, viewport["width"])] = width
    assert too_wide == {}
