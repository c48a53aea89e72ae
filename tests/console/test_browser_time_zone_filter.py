"""The time-zone selects (an announcement's schedule, a bot's quiet hours) list ~400
zones: a search box before each narrows them as the operator types
(static/botadmin/zone-filter.js). Screenshots land in test-artifacts/console/."""

import re

from announcements.models import Announcement
from conversations.models import Bot
from tests.browser import needs_chromium
from tests.polling import wait_until

from .browser import log_in, shoot
from .test_browser_keyboard import _tab_to

pytestmark = needs_chromium

SHOWN_OPTIONS = "s => Array.from(s.options).filter(o => !o.hidden).map(o => o.value)"


def test_typing_part_of_a_city_narrows_the_compose_pages_time_zones_and_chooses_one(page, demo):
    from playwright.sync_api import expect

    log_in(page)
    page.goto("/console/announcements/new/")
    page.get_by_label("每天").check()
    page.get_by_label("时刻").fill("09:30")
    select = page.get_by_label("时区", exact=True)
    expect(select).to_have_value("Asia/Shanghai")
    assert select.evaluate("s => s.options.length") > 300

    search = page.get_by_label("查找时区")
    # Wide enough for its hint, "输入城市或地区，例如 上海 或 Shanghai", in full.
    assert search.evaluate("e => e.clientWidth") > 300
    search.fill("new york")
    expect(select).to_have_value("America/New_York")
    assert select.evaluate(SHOWN_OPTIONS) == ["America/New_York"]
    expect(page.get_by_role("status").filter(has_text="匹配的时区")).to_have_text(
        "匹配的时区：1 个"
    )
    # The schedule's preview follows the chosen zone, as when it is picked in the select.
    expect(page.locator("#next-runs-tz")).to_have_text(re.compile("America/New_York"))
    shoot(page, "time-zone-filter-compose")

    # Enter goes to the select (to look through the matches), not to a submitted form.
    search.fill("asia/to")
    search.press("Enter")
    expect(select).to_be_focused()
    expect(select).to_have_value("Asia/Tokyo")
    assert page.url.endswith("/console/announcements/new/")

    # Nothing matches: said so, and the chosen zone stays.
    search.fill("火星")
    expect(page.get_by_text("没有匹配的时区")).to_be_visible()
    expect(select).to_have_value("Asia/Tokyo")

    # The common zones are found by their places' Chinese names too.
    search.fill("北京")
    expect(select).to_have_value("Asia/Shanghai")

    search.fill("")
    assert select.evaluate(SHOWN_OPTIONS.replace("!o.hidden", "o.hidden")) == []


def test_the_zones_chinese_speaking_operators_pick_are_found_by_their_chinese_names(page, demo):
    """Cities beyond the common zones' own (深圳 is in Asia/Shanghai), typed in Chinese."""
    from playwright.sync_api import expect

    log_in(page)
    page.goto("/console/announcements/new/")
    select = page.get_by_label("时区", exact=True)
    search = page.get_by_label("查找时区")
    for typed, zone in [
        ("深圳", "Asia/Shanghai"),
        ("吉隆坡", "Asia/Kuala_Lumpur"),
        ("迪拜", "Asia/Dubai"),
        ("多伦多", "America/Toronto"),
        ("芝加哥", "America/Chicago"),
        ("莫斯科", "Europe/Moscow"),
    ]:
        search.fill(typed)
        expect(select).to_have_value(zone)
        assert select.evaluate(SHOWN_OPTIONS) == [zone]


def test_a_bots_quiet_hours_zone_is_found_by_typing_and_saved(page, demo):
    from playwright.sync_api import expect

    bot, _group = demo
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page)
    page.goto(f"/console/bots/{bot.pk}/settings/#sending")
    sending = page.locator("#sending-form")
    search = sending.get_by_label("查找时区")
    # On a phone the box has a line of its own: its hint is read in full.
    assert search.evaluate("e => e.clientWidth") > 300
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    search.fill("Kolk")
    expect(sending.get_by_label("时区", exact=True)).to_have_value("Asia/Kolkata")
    shoot(page, "time-zone-filter-bot")
    sending.get_by_role("button", name="保存发送设置").click()
    page.wait_for_load_state()
    assert Bot.objects.get(pk=bot.pk).timezone == "Asia/Kolkata"


def test_without_script_the_select_works_alone(browser, live_server, demo):
    """No script: no search box, and the whole grouped list to choose from."""
    from playwright.sync_api import expect

    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, locale="zh-CN"
    )
    page = context.new_page()
    log_in(page)
    page.goto("/console/announcements/new/")
    expect(page.get_by_label("查找时区")).to_have_count(0)
    select = page.get_by_label("时区", exact=True)
    assert select.evaluate("s => s.options.length") > 300
    select.select_option("Europe/London")
    expect(select).to_have_value("Europe/London")
    context.close()


def test_an_announcement_is_written_given_a_zone_and_sent_then_cancelled_by_keyboard(page, demo):
    """Tab and Enter alone: the text, a recipient, the zone found by typing, the send
    and its question; then the announcement's Cancel and its question."""
    from playwright.sync_api import expect

    questions = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    log_in(page)
    page.goto("/console/announcements/new/")
    page.locator("[name=title]").focus()
    page.keyboard.type("键盘公告")
    _tab_to(page, page.locator("[name=text__content]"))
    page.keyboard.type("今晚维护")
    _tab_to(page, page.get_by_role("checkbox", name=re.compile("客户服务群")))
    page.keyboard.press("Space")
    expect(page.locator("#selected-count")).to_have_text("(1)")

    _tab_to(page, page.get_by_label("查找时区"))
    page.keyboard.type("tokyo")
    page.keyboard.press("Enter")
    expect(page.get_by_label("时区", exact=True)).to_be_focused()
    _tab_to(page, page.get_by_role("button", name="立即发送"))
    shoot(page, "keyboard-compose-send")
    page.keyboard.press("Enter")

    page.wait_for_url(re.compile(r"/console/announcements/\d+/$"))
    announcement = Announcement.objects.get(title="键盘公告")
    assert announcement.timezone == "Asia/Tokyo"
    assert questions == ["现在发送给 1 个会话？"]

    # No worker sends it here: its run waits, and Cancel asks first.
    _tab_to(page, page.get_by_role("button", name="取消", exact=True))
    page.keyboard.press("Enter")
    assert wait_until(lambda: len(questions) == 2)
    assert questions[1].startswith("取消？")
    expect(page.locator("h1 .badge, .page-head .badge").first).to_have_text("已取消")
    announcement.refresh_from_db()
    assert announcement.status == "cancelled"
