"""Browser tests: the compose page's "Select all shown" selects the rows loaded so far, and
then offers to select every conversation matching the search (Gmail's "Select all N that
match"), which the saved announcement and the send question count in full."""

import re

import pytest

from announcements.models import Announcement
from conversations.models import Conversation
from tests.browser import needs_chromium, screenshot

from .test_browser import answer_dialogs, open_compose_page
from .test_browser_phone import FITS, PHONE

pytestmark = needs_chromium

# More than the picker's first page (announcements.audience.PAGE_SIZE, 50) matches "客户".
CUSTOMERS = 120


@pytest.fixture
def customers(bot, make_conversation) -> list[Conversation]:
    """120 customer groups, and two groups and a user the search for 客户 does not find."""
    found = [
        make_conversation(bot, f"wrCust{i:03d}", name=f"客户群{i:03d}") for i in range(CUSTOMERS)
    ]
    make_conversation(bot, "wrOps1", name="运维群1")
    make_conversation(bot, "wrOps2", name="运维群2")
    make_conversation(bot, "wmAlice", name="测试用户", kind=Conversation.Kind.USER)
    return found


def selected_count(page, n: int) -> None:
    page.wait_for_function(
        f"() => document.querySelector('#selected-count').textContent === '({n})'"
    )


@pytest.mark.django_db(transaction=True)
def test_select_all_matching_sends_to_every_match_not_only_the_rows_loaded(
    live_server, browser, bot, customers, superuser
):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    open_compose_page(page, live_server)
    page.fill("[name=title]", "客户通知")
    page.check("input[name=msgtype][value=text]")
    page.fill("[name=text__content]", "本周六系统维护")
    page.fill("#audience-search", "客户")
    page.wait_for_selector("#match-count:has-text('找到 120 个会话')")
    assert page.locator("#audience input[type=checkbox]").count() == 50

    page.click("[data-select=shown]")

    # The 50 loaded are chosen, and the page says so and offers all 120.
    selected_count(page, 50)
    assert page.inner_text("#select-matching-status") == "仅选中了当前已加载的会话。"
    offer = page.get_by_role("button", name="选择全部 120 个匹配的会话")
    assert offer.is_visible()
    screenshot(page, "announcements", "select-all-01-offered")

    offer.click()

    selected_count(page, 120)
    assert page.inner_text("#select-matching-status") == "已选中与此搜索匹配的全部 120 个会话。"
    assert not offer.is_visible()
    # A later page of the list shows its rows chosen too.
    page.click("#audience .more button")
    page.wait_for_selector("#audience li:has-text('客户群099') input:checked")
    # One unchecked by hand is left out.
    page.uncheck("#audience li:has-text('客户群007') input")
    selected_count(page, 119)
    # The run's estimate counts them all too.
    page.wait_for_selector("#estimate:has-text('119 个接收者')")
    screenshot(page, "announcements", "select-all-02-chosen")

    asked = answer_dialogs(page)
    page.click("#submit-schedule")
    page.wait_for_url(re.compile(r"/console/announcements/\d+/$"))

    assert asked == ["现在发送给 119 个会话？"]
    announcement = Announcement.objects.get()
    assert announcement.audience == Announcement.Audience.LISTED
    chosen = set(announcement.conversations.values_list("name", flat=True))
    assert chosen == {c.name for c in customers} - {"客户群007"}


@pytest.mark.django_db(transaction=True)
def test_select_all_matching_on_a_phone_in_english_and_clear_chooses_none(
    live_server, browser, bot, customers, superuser
):
    page = browser.new_page(viewport=PHONE)
    open_compose_page(page, live_server)
    page.get_by_role("button", name="English").click()
    page.wait_for_selector('html[lang="en"]')
    page.fill("#audience-search", "客户")
    page.wait_for_selector("#match-count:has-text('120 conversations found')")
    page.get_by_role("button", name="Select all shown").click()
    selected_count(page, 50)
    assert page.inner_text("#select-matching-status") == (
        "Only the conversations loaded so far are chosen."
    )
    assert page.evaluate(FITS), page.evaluate("() => document.documentElement.scrollWidth")
    screenshot(page, "announcements", "select-all-03-offered-phone-en")

    # Pressed from the keyboard, as a screen reader user would.
    page.get_by_role("button", name="Select all 120 matching conversations").focus()
    page.keyboard.press("Enter")

    selected_count(page, 120)
    assert page.inner_text("#select-matching-status") == (
        "All 120 conversations matching this search are chosen."
    )
    # The keyboard goes on from "Select all shown", not from the page's top.
    assert page.evaluate("document.activeElement.dataset.select") == "shown"
    page.wait_for_selector("#estimate:has-text('120 recipients at 20/min')")
    assert page.evaluate(FITS), page.evaluate("() => document.documentElement.scrollWidth")
    screenshot(page, "announcements", "select-all-04-chosen-phone-en")

    # Clear chooses none again: the base of all matching goes with the rest.
    page.get_by_role("button", name="Clear").click()
    selected_count(page, 0)
    assert page.input_value("#id_audience_base") == ""
    assert page.inner_text("#select-matching-status") == ""
    page.wait_for_function("() => !document.querySelector('#audience input:checked')")
