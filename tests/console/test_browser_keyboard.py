"""The console by keyboard alone. Screenshots land in test-artifacts/console/."""

from tests.browser import ARTIFACTS, needs_chromium
from tests.polling import wait_until

from .browser import log_in, open_conversation, shoot

pytestmark = needs_chromium


def test_a_received_messages_details_open_from_the_keyboard(page, demo):
    """Its "details" show on hover; hidden from the mouse, it must stay in the tab order."""
    from playwright.sync_api import expect

    _bot, group = demo
    log_in(page)
    open_conversation(page, group.name)

    page.locator("#id_content").focus()
    page.keyboard.press("Shift+Tab")
    summary = page.locator("#timeline .msg.in summary").last
    expect(summary).to_be_focused()
    expect(summary).to_have_css("opacity", "1")
    page.keyboard.press("Enter")

    trace = page.locator("#timeline .msg.in .trace").last
    expect(trace).to_have_attribute("open", "")
    expect(trace.locator(".trace-body")).to_contain_text("第 69 条历史消息")
    shoot(page, "keyboard-received-details")


def test_the_language_switch_is_reached_by_tab_and_arrow_keys_do_not_switch_it(page, demo):
    """A select that submitted on change switched the language on the first arrow key
    (WCAG 3.2.2): the language changes only when the operator presses its button."""
    from playwright.sync_api import Error, expect

    log_in(page)
    page.goto("/console/dashboard/")
    expect(page.get_by_role("heading", name="仪表盘")).to_be_visible()

    def focus_in_language_switch() -> bool:
        return page.evaluate(
            "document.querySelector('form.lang-switch').contains(document.activeElement)"
        )

    assert wait_until(lambda: page.keyboard.press("Tab") or focus_in_language_switch(), timeout=5)
    shoot(page, "keyboard-language-focused")
    page.evaluate("window.notReloaded = true")
    for key in ("ArrowDown", "ArrowDown", "ArrowUp", "ArrowRight", "ArrowLeft"):
        page.keyboard.press(key)

    def switched() -> bool:
        try:
            return not page.evaluate("window.notReloaded === true")
        except Error:  # the page is being replaced
            return True

    assert not wait_until(switched, timeout=1)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    english = page.get_by_role("group", name="语言").get_by_role("button", name="English")
    assert wait_until(
        lambda: page.keyboard.press("Tab") or english.evaluate("e => e === document.activeElement"),
        timeout=5,
    )
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    current = page.get_by_role("group", name="Language").get_by_role("button", name="English")
    expect(current).to_have_attribute("aria-current", "true")


def test_the_language_buttons_fit_the_header_on_a_desktop_and_a_phone(page, demo):
    log_in(page)
    for width, height in ((1280, 860), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto("/console/announcements/")
        header = page.locator("header.topbar")
        buttons = page.locator(".lang-switch button")
        top = header.bounding_box()
        for box in (buttons.nth(0).bounding_box(), buttons.nth(1).bounding_box()):
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
            assert top["y"] <= box["y"] and box["y"] + box["height"] <= top["y"] + top["height"]
        # Side by side, one line each.
        first, second = buttons.nth(0).bounding_box(), buttons.nth(1).bounding_box()
        assert abs(first["y"] - second["y"]) < 1 and first["height"] < 30
        header.screenshot(path=str(ARTIFACTS / "console" / f"header-{width}.png"))
