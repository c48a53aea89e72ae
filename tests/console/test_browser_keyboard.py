"""The console by keyboard alone. Screenshots land in test-artifacts/console/."""

from tests.browser import needs_chromium

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
