"""A form sent with a mistake shows it where the operator is looking, in red, and keeps
what was typed. Screenshots land in test-artifacts/console/ (git-ignored)."""

from tests.browser import needs_chromium

from .browser import shoot

pytestmark = needs_chromium

RED = "rgb(184, 48, 42)"  # --bad in app.css


def test_an_announcements_missing_fields_are_said_in_red(page_of_root, bot, group):
    page = page_of_root
    page.goto(f"/console/announcements/new/?bot={bot.pk}")
    page.locator("#compose").evaluate("form => { form.noValidate = true; }")
    page.get_by_role("button", name="立即发送").click()

    error = page.locator(".errorlist").filter(has_text="请至少选择一个接收者")
    assert error.evaluate("e => getComputedStyle(e).color") == RED
    assert error.evaluate("e => getComputedStyle(e).listStyleType") == "none"
    shoot(page, "form-errors-compose")


def test_a_bot_page_form_with_a_mistake_opens_at_its_section(page_of_root, bot):
    """The bot page is long: an error near its end was below the fold, and the page
    opened at the top as if the form had been saved."""
    from playwright.sync_api import expect

    page = page_of_root
    page.goto(f"/console/bots/{bot.pk}/settings/")
    page.locator("#sending-form").get_by_label("免打扰开始").fill("22:00")
    page.locator("#sending-form").get_by_role("button").click()

    error = page.locator("#sending .errorlist")
    expect(error).to_contain_text("免打扰时段的开始和结束须同时填写或同时留空")
    assert page.locator("#sending-form").get_by_label("免打扰开始").input_value() == "22:00"
    assert error.is_visible() and _in_viewport(page, error)

    page.goto(f"/console/bots/{bot.pk}/settings/")
    page.locator("#operator-form").get_by_label("用户名").fill("nobody-here")
    page.locator("#operator-form").get_by_role("button", name="添加操作员").click()
    error = page.locator("#operators .errorlist")
    expect(error).to_contain_text("没有使用此用户名的有效用户")
    assert _in_viewport(page, error)
    shoot(page, "form-errors-bot-page")


def _in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    return (
        box is not None
        and 0 <= box["y"]
        and box["y"] + box["height"] <= page.viewport_size["height"]
    )
