"""Browser test: an announcement's page on a phone (390 px) is no wider than the screen,
while its run is sending: the run's counts wrap, the recipients' table fits the card
without sideways scrolling (an error on a line of its own), and a recipient's wait
("behind 1 earlier message") reads in lines, not a character a line."""

import pytest
from django.utils import timezone

from announcements.fanout import fan_out
from announcements.scheduler import start_due_announcements
from messaging.models import Message
from messaging.sending import accept_outbound
from tests.browser import needs_chromium, screenshot

from .test_browser import open_compose_page

pytestmark = needs_chromium

PHONE = {"width": 390, "height": 844}
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"
DESKTOP = {"width": 1280, "height": 900}
# The screenshots of a page: in Chinese on a desktop, in English on a phone.
IN_BOTH = ((DESKTOP, False, "zh"), (PHONE, True, "phone-en"))


def logged_in_page(browser, live_server, viewport: dict, english: bool):
    """A new page of the `superuser` fixture's root, in English if asked (the console's
    language switch), on the compose page."""
    page = browser.new_page(viewport=viewport)
    open_compose_page(page, live_server)
    if english:
        page.get_by_role("button", name="English").click()
        page.wait_for_selector('html[lang="en"]')
    return page


@pytest.mark.django_db(transaction=True)
def test_a_sending_announcements_page_fits_a_phone(
    live_server, browser, bot, make_conversation, superuser, make_announcement
):
    groups = [make_conversation(bot, f"wrOps{i:02d}", name=f"运维群{i}") for i in range(1, 31)]
    # An API message to 运维群2 waits already: the announcement's comes after it.
    accept_outbound(
        bot=bot,
        conversation_id=groups[1].conversation_id,
        body={"msgtype": "text", "text": {"content": "earlier"}},
        source="api",
    )
    announcement = make_announcement(
        bot,
        groups,
        title="周末维护通知",
        body={"msgtype": "text", "text": {"content": "各位同事：本周六 22:00-24:00 系统维护。"}},
    )
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    messages = Message.objects.filter(announcement_run_id=run_id).order_by("conversation__name")
    now = timezone.now()
    for message in messages.exclude(conversation__in=groups[1:3]):
        Message.objects.filter(pk=message.pk).update(status=Message.Status.SENT, sent_at=now)
    Message.objects.filter(announcement_run_id=run_id, conversation=groups[2]).update(
        status=Message.Status.FAILED,
        last_error="errcode 93000: invalid webhook url, hint: [1733455123_1_8f1d4c0e2b]"
        " more info at https://open.work.weixin.qq.com/devtool/query?e=93000",
    )
    page = browser.new_page(viewport=PHONE)
    open_compose_page(page, live_server)

    page.goto(f"{live_server.url}/console/announcements/{announcement.pk}/")

    page.wait_for_selector("table.recipients tr[data-msgid]")
    assert "排在此会话 1 条较早的消息之后" in page.inner_text("table.recipients")
    assert page.evaluate(FITS), page.evaluate("() => document.documentElement.scrollWidth")
    # The wait reads in lines of several characters, not one or two.
    ahead = page.locator(".messages-ahead")
    assert ahead.evaluate("el => el.getBoundingClientRect().width") >= 120
    # The run's counts are all on the screen (wrapped), none cut off.
    counts = page.locator(".run-counts")
    assert counts.evaluate("el => el.getBoundingClientRect().right") <= PHONE["width"]
    assert counts.inner_text().endswith("1 待发送，共 30")
    screenshot(page, "announcements", "phone-01-detail-sending")

    for language in ("zh", "en"):
        if language == "en":
            page.context.add_cookies(
                [{"name": "django_language", "value": "en", "url": live_server.url}]
            )
            page.reload()
            page.wait_for_selector("table.recipients tr[data-msgid]")
        # The recipients' table needs no sideways scroll (it did, to show their status):
        # every status on the screen, an error read in lines across the card.
        table = page.locator("#runs .table-wrap")
        assert table.evaluate("el => el.scrollWidth <= el.clientWidth"), language
        rights = page.locator("table.recipients .badge").evaluate_all(
            "badges => badges.map(badge => badge.getBoundingClientRect().right)"
        )
        assert len(rights) == 30 and max(rights) <= PHONE["width"], (language, rights)
        error = page.locator("table.recipients td.text-cell:not(:empty)")
        assert error.evaluate("el => el.getBoundingClientRect().width") >= 300, language
        assert page.evaluate(FITS)
        screenshot(page, "announcements", f"phone-02-detail-recipients-{language}")

    page.goto(f"{live_server.url}/console/announcements/{announcement.pk}/recipients/")
    assert page.locator("table.recipients-now td.name").count() == 30
    assert page.evaluate(FITS)
    screenshot(page, "announcements", "phone-03-recipients")


@pytest.mark.django_db(transaction=True)
def test_the_runs_recipients_start_apart_from_the_runs_card(
    live_server, browser, bot, make_conversation, superuser, make_announcement
):
    """The All / Failed / Waiting / Sent chips touched the bottom of the last run's card."""
    announcement = make_announcement(bot, [make_conversation(bot, "wrOps01", name="运维群1")])
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    page = browser.new_page(viewport=PHONE)
    open_compose_page(page, live_server)

    page.goto(f"{live_server.url}/console/announcements/{announcement.pk}/")

    gap = page.locator("#runs").evaluate(
        """runs => runs.querySelector('.recipient-filter').getBoundingClientRect().top
                  - runs.querySelector('.panel.run').getBoundingClientRect().bottom"""
    )
    assert gap >= 12
