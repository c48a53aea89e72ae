"""A long title (no spaces, at the longest the model keeps) stays inside the page: the
list truncates it with the whole title as a tooltip and keeps its other columns in sight;
the detail page wraps its heading and keeps its buttons in sight."""

from tests.browser import needs_chromium

from .browser import daily_announcement, log_in, shoot

pytestmark = needs_chromium

LONG = "X" * 200


def in_view(page, locator) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_a_long_title_keeps_the_lists_columns_in_sight_and_shows_in_full_as_a_tooltip(page, demo):
    bot, group = demo
    daily_announcement(bot, group, LONG, "今晚维护", as_draft=True)
    daily_announcement(bot, group, "系统维护通知", "今晚维护", as_draft=False)
    log_in(page)

    page.goto("/console/announcements/")

    shoot(page, "announcements-long-title")
    link = page.locator(f'table.announcements a[title="{LONG}"]')
    assert link.count() == 1
    for header in ("机器人", "状态", "下次运行", "上次运行"):
        assert in_view(page, page.get_by_role("columnheader", name=header)), header
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_a_long_title_wraps_on_the_detail_page_and_its_buttons_stay_in_sight(page, demo):
    bot, group = demo
    announcement = daily_announcement(bot, group, LONG, "今晚维护", as_draft=True)
    log_in(page)

    page.goto(f"/console/announcements/{announcement.pk}/")

    shoot(page, "announcement-long-title")
    assert in_view(page, page.locator("h1"))
    for name in ("编辑", "复制"):
        assert in_view(page, page.locator("#announcement-head .actions").get_by_text(name)), name
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
