"""Browser tests: once "Select all N matching" made the selection every match of the
search, the picker stays consistent: "Select all shown" offers nothing more, "Show more"
loads rows checked with no offer, and a saved audience it started from is let go (the
selection is a search now), the page saying so. Also the audit log's before/after of an
edited announcement, on a desktop and a phone."""

from dataclasses import replace

import pytest

from announcements.editing import save_announcement, save_audience
from conversations.models import Conversation
from tests.browser import needs_chromium, screenshot

from .test_browser import open_compose_page
from .test_browser_phone import FITS, IN_BOTH, PHONE, logged_in_page
from .test_edit_audit import daily_at_nine

pytestmark = needs_chromium

ALL_CHOSEN = "已选中与此搜索匹配的全部 120 个会话。"
UNLINKED = "已不再是之前选的已保存受众：接收者现在是与此搜索匹配的会话。"


@pytest.fixture
def customers(bot, make_conversation) -> list[Conversation]:
    """120 customer groups: more than the picker's first page (50) match 客户."""
    return [make_conversation(bot, f"wrCust{i:03d}", name=f"客户群{i:03d}") for i in range(120)]


def selected_count(page, n: int) -> None:
    page.wait_for_function(
        f"() => document.querySelector('#selected-count').textContent === '({n})'"
    )


def choose_saved_then_all_matching(page, saved_pk: int, offer_name: str) -> None:
    page.select_option("select[name=saved_audience]", str(saved_pk))
    selected_count(page, 5)
    page.fill("#audience-search", "客户")
    page.wait_for_function("() => document.querySelectorAll('#audience input').length === 50")
    page.click("[data-select=shown]")
    selected_count(page, 50)
    page.get_by_role("button", name=offer_name).click()
    selected_count(page, 120)


@pytest.mark.django_db(transaction=True)
def test_after_all_matching_show_more_loads_rows_checked_and_nothing_more_is_offered(
    live_server, browser, bot, customers, superuser
):
    saved = save_audience(superuser, bot, "重点客户", [c.pk for c in customers[:5]])
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    open_compose_page(page, live_server)

    choose_saved_then_all_matching(page, saved.pk, "选择全部 120 个匹配的会话")

    # The saved audience is let go, and the page says why.
    assert page.input_value("select[name=saved_audience]") == ""
    assert page.inner_text("#select-matching-status") == ALL_CHOSEN + UNLINKED
    offer = page.locator("#select-matching-button")
    # "Select all shown" again: all of them are chosen already, nothing to offer.
    page.click("[data-select=shown]")
    assert not offer.is_visible()
    assert page.inner_text("#select-matching-status") == ALL_CHOSEN + UNLINKED

    page.click("#audience .more button")

    page.wait_for_selector("#audience li:has-text('客户群099') input:checked")
    assert page.locator("#audience input[type=checkbox]").count() == 100
    assert page.locator("#audience input[type=checkbox]:not(:checked)").count() == 0
    assert not offer.is_visible()
    selected_count(page, 120)
    page.locator("#select-matching").scroll_into_view_if_needed()
    screenshot(page, "announcements", "select-all-05-saved-let-go-more-loaded")


@pytest.mark.django_db(transaction=True)
def test_a_saved_audience_let_go_by_all_matching_on_a_phone_in_english(
    live_server, browser, bot, customers, superuser
):
    saved = save_audience(superuser, bot, "VIP customers", [c.pk for c in customers[:5]])
    page = logged_in_page(browser, live_server, PHONE, english=True)

    choose_saved_then_all_matching(page, saved.pk, "Select all 120 matching conversations")

    assert page.input_value("select[name=saved_audience]") == ""
    assert page.inner_text("#select-matching-status") == (
        "All 120 conversations matching this search are chosen. No longer the saved "
        "audience chosen before: the recipients are now this search’s matches."
    )
    page.click("#audience .more button")
    page.wait_for_selector("#audience li:has-text('客户群099') input:checked")
    assert not page.locator("#select-matching-button").is_visible()
    assert page.evaluate(FITS), page.evaluate("() => document.documentElement.scrollWidth")
    page.locator("#select-matching").scroll_into_view_if_needed()
    screenshot(page, "announcements", "select-all-06-saved-let-go-phone-en")


@pytest.mark.django_db(transaction=True)
def test_the_audit_log_shows_an_edits_text_before_and_after_on_desktop_and_phone(
    live_server, browser, bot, customers, superuser
):
    draft = daily_at_nine(bot, customers[:2], "周六 10:00 维护 <b>一小时</b>")
    announcement = save_announcement(superuser, draft, as_draft=False)
    edited = replace(
        draft,
        body={"msgtype": "text", "text": {"content": "周六 11:00 维护两小时，详见说明"}},
        schedule={"time": "09:30"},
    )
    save_announcement(superuser, edited, as_draft=False, announcement=announcement)
    for viewport, english, suffix in IN_BOTH:
        page = logged_in_page(browser, live_server, viewport, english)
        page.goto(f"{live_server.url}/console/audit/actions/")
        changes = page.locator("details.edit-changes")
        changes.locator("summary").click()
        assert changes.locator("del").first.inner_text() == "周六 10:00 维护 <b>一小时</b>"
        assert changes.locator("ins").first.inner_text() == "周六 11:00 维护两小时，详见说明"
        assert page.evaluate(FITS), page.evaluate("() => document.documentElement.scrollWidth")
        screenshot(page, "console", f"audit-edit-changes-{suffix}")
        page.close()
