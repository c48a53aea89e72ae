"""The console by keyboard alone. Screenshots land in test-artifacts/console/."""

import re

from tests.browser import ARTIFACTS, needs_chromium
from tests.polling import wait_until

from .browser import PHONE, daily_announcement, log_in, open_conversation, shoot

pytestmark = needs_chromium


def _tab_to(page, locator) -> None:
    assert wait_until(
        lambda: page.keyboard.press("Tab") or locator.evaluate("e => e === document.activeElement"),
        timeout=20,  # one Tab per poll: slow on a loaded machine, not a sign of a trap
    )


def _arrow_keys_do_not_reload(page, keys=("ArrowDown", "ArrowUp", "ArrowDown")) -> None:
    """Moving through the focused control's choices with the arrow keys leaves the page as it is."""
    from playwright.sync_api import Error

    page.evaluate("window.notReloaded = true")
    for key in keys:
        page.keyboard.press(key)

    def reloaded() -> bool:
        try:
            return not page.evaluate("window.notReloaded === true")
        except Error:  # the page is being replaced
            return True

    assert not wait_until(reloaded, timeout=1)


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
    from playwright.sync_api import expect

    log_in(page)
    page.goto("/console/dashboard/")
    expect(page.get_by_role("heading", name="仪表盘")).to_be_visible()

    def focus_in_language_switch() -> bool:
        return page.evaluate(
            "document.querySelector('form.lang-switch').contains(document.activeElement)"
        )

    assert wait_until(lambda: page.keyboard.press("Tab") or focus_in_language_switch(), timeout=30)
    shoot(page, "keyboard-language-focused")
    _arrow_keys_do_not_reload(
        page, ("ArrowDown", "ArrowDown", "ArrowUp", "ArrowRight", "ArrowLeft")
    )
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    _tab_to(page, page.get_by_role("group", name="语言").get_by_role("button", name="English"))
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


def _second_bot():
    from conversations.models import Bot

    return Bot.objects.create(
        name="客服机器人", connector="bridge", agent_url="http://127.0.0.1:9", agent_token="t" * 32
    )


def test_the_dashboards_bot_menu_changes_only_with_its_button(page, demo):
    """The select submitted on change: the first arrow key reloaded the page (WCAG 3.2.2)."""
    from playwright.sync_api import expect

    bot, _group = demo
    _second_bot()
    log_in(page)
    page.goto("/console/dashboard/")
    menu = page.locator(".bot-picker select")
    _tab_to(page, menu)
    _arrow_keys_do_not_reload(page)
    expect(menu).to_have_value(str(bot.pk))  # the option after "all my bots"
    expect(page.get_by_role("heading", name="仪表盘", exact=True)).to_be_visible()

    _tab_to(page, page.get_by_role("button", name="显示"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/console/dashboard/?bot={bot.pk}")
    expect(page.get_by_role("heading", name="仪表盘 · demo")).to_be_visible()


def _switch_by_keyboard(page, bot, other) -> None:
    """Choose `other` in the bot menu with the arrow keys (nothing reloads), then press
    "Switch bot" with Enter: the compose form comes back for `other`."""
    from playwright.sync_api import expect

    menu = page.locator(".bot-picker select")
    _tab_to(page, menu)
    _arrow_keys_do_not_reload(page)
    expect(menu).to_have_value(str(other.pk))
    assert page.locator("#compose [name=bot]").input_value() == str(bot.pk)

    _tab_to(page, page.get_by_role("button", name="切换机器人"))
    page.keyboard.press("Enter")

    expect(page.locator("#compose [name=bot]")).to_have_value(str(other.pk))
    expect(page.locator(".bot-picker select")).to_have_value(str(other.pk))


def _expect_the_typed_message_and_schedule(page, title: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#id_title")).to_have_value(title)
    expect(page.locator("[name=text__content]")).to_have_value("本周例会改到周四\n请准时参加")
    expect(page.get_by_label("每天")).to_be_checked()
    expect(page.locator("[name=time]")).to_have_value("09:30")
    expect(page.locator("#preview")).to_contain_text("本周例会改到周四")


def test_switching_the_composes_bot_keeps_the_title_and_message_typed(page, demo):
    """Switching reloaded the page on the first arrow key and lost what the operator typed."""
    bot, _group = demo
    other = _second_bot()
    log_in(page)
    page.goto(f"/console/announcements/new/?bot={bot.pk}")
    page.locator("#id_title").fill("周会通知")
    page.locator("[name=text__content]").fill("本周例会改到周四\n请准时参加")
    page.get_by_label("每天").check()
    page.locator("[name=time]").fill("09:30")

    _switch_by_keyboard(page, bot, other)

    _expect_the_typed_message_and_schedule(page, "周会通知")


def test_a_duplicate_switched_to_another_bot_is_saved_as_that_bots(page, demo):
    """The duplicate page offered no "Switch bot": an announcement could not be copied to
    another of the operator's bots. The copy keeps what was typed, not the first bot's
    recipients, and saving it leaves the original as it was."""
    from playwright.sync_api import expect

    from announcements.models import Announcement
    from conversations.models import Conversation

    bot, group = demo
    other = _second_bot()
    other_group = Conversation.objects.create(
        bot=other, conversation_id="wrOtherGroup01", name="售后二群"
    )
    original = daily_announcement(
        bot, group, "周会通知", "本周例会改到周四\n请准时参加", as_draft=True
    )
    log_in(page)
    page.goto(f"/console/announcements/new/?from={original.pk}")
    expect(page.get_by_text("“周会通知”的副本")).to_be_visible()
    page.locator("#id_title").fill("周会通知（售后）")

    _switch_by_keyboard(page, bot, other)

    _expect_the_typed_message_and_schedule(page, "周会通知（售后）")
    expect(page.get_by_text("正在为 客服机器人 撰写：请重新选择接收者")).to_be_visible()
    expect(page.locator("#audience input:checked")).to_have_count(0)
    shoot(page, "keyboard-duplicate-switched")
    page.locator("#audience li:has-text('售后二群') input").check()
    page.get_by_role("button", name="保存草稿").click()

    page.wait_for_url(re.compile(r"/console/announcements/\d+/$"))
    copy = Announcement.objects.exclude(pk=original.pk).get()
    assert page.url.endswith(f"/console/announcements/{copy.pk}/")
    assert (copy.bot, copy.title, copy.msgtype) == (other, "周会通知（售后）", "text")
    # A browser posts a textarea's line breaks as CRLF; the form stores them as LF.
    assert copy.body["text"]["content"] == "本周例会改到周四\n请准时参加"
    assert list(copy.conversations.all()) == [other_group]
    original.refresh_from_db()
    assert (original.bot, original.title) == (bot, "周会通知")
    assert list(original.conversations.all()) == [group]


def test_the_bot_menus_and_their_buttons_fit_a_desktop_and_a_phone(page, demo):
    bot, _group = demo
    _second_bot()
    log_in(page)
    for width, height in ((1280, 860), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for name, path in (
            ("dashboard", "/console/dashboard/"),
            ("compose", f"/console/announcements/new/?bot={bot.pk}"),
        ):
            page.goto(path)
            shoot(page, f"bot-menu-{name}-{width}")
            menu, button = page.locator(".bot-picker select"), page.locator(".bot-picker button")
            boxes = menu.bounding_box(), button.bounding_box()
            for box in boxes:
                assert box["x"] >= 0 and box["x"] + box["width"] <= width, (name, width)
            # Side by side, the button's words on one line.
            assert (
                abs(boxes[0]["y"] + boxes[0]["height"] / 2 - boxes[1]["y"] - boxes[1]["height"] / 2)
                < 4
            )
            assert boxes[1]["height"] < 40, (name, width)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)


def test_the_first_tab_skips_to_the_pages_content(page, demo):
    """The keyboard needed 12 Tabs, through the logo, the navigation and the header's
    buttons, to reach any page's content."""
    log_in(page)
    page.goto("/console/dashboard/")

    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    assert skip.evaluate("e => e === document.activeElement")
    assert skip.inner_text() == "跳到正文"
    assert skip.is_visible()
    page.keyboard.press("Enter")

    assert page.evaluate("document.activeElement.id") == "content"
    page.keyboard.press("Tab")  # the next stop is in the page, not the header
    assert page.evaluate("!!document.activeElement.closest('main')")
    shoot(page, "keyboard-skip-link")


def test_the_ctrl_enter_hint_shows_where_there_is_a_keyboard_and_not_on_a_touch_screen(
    page, live_server, demo
):
    """At 390 px on a phone the reply box said "Ctrl+Enter 发送": a key it has not."""
    from playwright.sync_api import expect

    from tests.browser import chromium

    _bot, group = demo
    log_in(page)
    open_conversation(page, group.name)
    expect(page.get_by_text("Ctrl+Enter 发送")).to_be_visible()

    with chromium() as browser:
        phone = browser.new_context(
            base_url=live_server.url,
            viewport=PHONE,
            has_touch=True,
            is_mobile=True,
            locale="zh-CN",
        )
        try:
            touch = phone.new_page()
            log_in(touch)
            open_conversation(touch, group.name)
            expect(touch.locator("#id_content")).to_be_visible()
            expect(touch.get_by_role("button", name="发送")).to_be_visible()
            hint = touch.get_by_text("Ctrl+Enter 发送")
            expect(hint).to_have_count(1)  # in the page, as for a keyboard...
            expect(hint).to_be_hidden()  # ...but not shown
        finally:
            phone.close()
