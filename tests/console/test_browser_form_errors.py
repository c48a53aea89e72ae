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


GREY = "rgb(222, 224, 227)"  # --border in app.css


def test_a_field_with_a_mistake_is_framed_in_red_and_points_at_its_error(page_of_root, bot, group):
    """The error's words above a field left its border grey, unlike the admin's: the field
    itself now says it (aria-invalid, a red border) and names its error for a screen reader
    (aria-describedby); the fields without a mistake stay as they were."""
    page = page_of_root
    for english in (False, True):
        page.goto(f"/console/announcements/new/?bot={bot.pk}")
        if english:
            page.get_by_role("button", name="English").click()
            page.wait_for_selector("html[lang=en]")
        page.locator("#compose").evaluate("form => { form.noValidate = true; }")
        page.get_by_role("button", name="Send now" if english else "立即发送").click()

        required = "This field is required." if english else "这个字段是必填项。"
        _framed_in_red(page, page.locator("#id_title"), required)
        _framed_in_red(page, page.locator("#id_text__content"), required)
        for fine in ("#id_text__mentioned_list", "#id_save_audience_as"):
            field = page.locator(fine)
            assert field.get_attribute("aria-invalid") is None
            assert field.evaluate("e => getComputedStyle(e).borderTopColor") == GREY
        page.locator("#id_title").scroll_into_view_if_needed()
        shoot(page, f"form-errors-fields-{'en' if english else 'zh'}")

    page.goto(f"/console/bots/{bot.pk}/settings/")
    page.locator("#operator-form").get_by_label("Username").fill("nobody-here")
    page.locator("#operator-form").get_by_role("button").click()
    _framed_in_red(page, page.locator("#id_username"), "No active user has this username.")
    shoot(page, "form-errors-fields-bot-page-en")


def _framed_in_red(page, field, error: str) -> None:
    from playwright.sync_api import expect

    expect(field).to_have_attribute("aria-invalid", "true")
    assert field.evaluate("e => getComputedStyle(e).borderTopColor") == RED
    described = field.get_attribute("aria-describedby").split()
    assert all(page.locator(f"#{id_}").count() == 1 for id_ in described), described
    assert any(error in page.locator(f"#{id_}").inner_text() for id_ in described), described
