"""A message the WeCom app's daily cap holds back, as an operator sees it in a real browser:
its bubble says until when it waits and why, not just "queued".

Screenshots land in test-artifacts/console/ (git-ignored).
"""

from tests.browser import needs_chromium

from .browser import shoot
from .test_waiting_messages import app_chat, held  # noqa: F401  (a real hold, fake WeCom app)

pytestmark = needs_chromium


def test_an_operator_sees_why_a_held_message_waits_and_until_when(
    transactional_db,
    page,
    make_operator,
    app_bot,
    held,  # noqa: F811
):
    from playwright.sync_api import expect

    make_operator("wang", app_bot)
    page.goto("/console/login/")
    page.get_by_label("用户名").fill("wang")
    page.get_by_label("密码").fill("pw-wang")
    page.get_by_role("button", name="登录").click()
    page.goto(f"/console/bots/{app_bot.pk}/conversations/{held.conversation_id}/")

    bubble = page.locator(f"#m{held.pk}")
    expect(bubble.locator(".badge.waiting")).to_have_text("等待至 明天 00:00")
    expect(bubble.locator(".wait-reason")).to_contain_text("上限已用完")
    bubble.locator("details.trace summary").click()
    expect(bubble.locator(".wait-text")).to_contain_text("暂缓至北京时间")
    shoot(page, "waiting-01-held-by-daily-cap")
