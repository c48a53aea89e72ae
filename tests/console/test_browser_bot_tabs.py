"""Browser test: the bot tabs above a bot's pages mark an inactive bot, and the mark can
be read on the current bot's tab too: it took the tab's white text on its light grey
(contrast 1.1 : 1), a blank pill where "已停用" should be."""

from pathlib import Path

from tests.browser import needs_chromium

from .browser import shoot

pytestmark = needs_chromium

CHECK = (Path(__file__).parent / "accessibility_check.js").read_text(encoding="utf-8")


def test_the_current_tab_of_an_inactive_bot_reads_inactive(page, make_bot, superuser):
    make_bot(name="active-bot")
    paused = make_bot(name="old-bot", is_active=False)
    page.goto("/console/login/")
    page.get_by_label("用户名").fill("root")
    page.get_by_label("密码").fill("pw-root-123456")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/console/**")

    page.goto(f"/console/bots/{paused.pk}/")

    tab = page.locator(".bot-tabs a.active")
    assert tab.inner_text().split() == ["old-bot", "已停用"]
    shoot(page, "bot-tabs-inactive-current")
    assert page.evaluate(CHECK) == {"lang": "zh-hans", "problems": []}
