"""Browser screenshots: an announcement's page lists each occurrence missed while botadmin
was down as its own run, and a recipient switched off after its run started as cancelled
saying why; in Chinese on a desktop, in English on a phone."""

from datetime import UTC, datetime

import pytest
import time_machine

from announcements import scheduler
from announcements.fanout import fan_out
from conversations.models import Conversation
from messaging.delivery import deliver
from messaging.models import Message
from tests.browser import needs_chromium, screenshot

from .test_browser_phone import FITS, IN_BOTH, logged_in_page

pytestmark = needs_chromium


@pytest.mark.django_db(transaction=True)
def test_missed_runs_and_a_switched_off_recipient_on_the_announcements_page(
    live_server, browser, bot, make_groups, make_announcement
):
    groups = make_groups(bot, 2)
    with time_machine.travel(datetime(2026, 5, 4, 0, 0, tzinfo=UTC), tick=False) as clock:
        announcement = make_announcement(bot, groups, kind="daily", schedule={"time": "18:00"})
        clock.move_to(datetime(2026, 5, 7, 10, 5, tzinfo=UTC))  # down Monday to Thursday
        run_ids = scheduler.start_due_announcements()
    fan_out(run_ids[-1])
    Conversation.objects.filter(pk=groups[1].pk).update(is_active=False)  # a sync lost it
    skipped = Message.objects.get(announcement_run_id=run_ids[-1], conversation=groups[1])
    assert deliver(skipped.pk).result == "cancelled"
    for viewport, english, suffix in IN_BOTH:
        page = logged_in_page(browser, live_server, viewport, english)
        page.goto(f"{live_server.url}/console/announcements/{announcement.pk}/")
        badges = page.locator("#runs .run-head .badge.run-missed")
        assert badges.count() == 3
        missed = (
            page.locator("#runs .run")
            .filter(has=page.locator(".badge.run-missed"))
            .first.inner_text()
        )
        assert ("Nothing was sent for this time." if english else "此次未发送任何消息。") in missed
        assert ("0 sent" if english else "0 已发送") not in missed
        reason = page.locator("table.recipients tr", has_text="group 1")
        assert (
            "其会话已停用" if not english else "switched off after the run started"
        ) in reason.inner_text()
        assert page.evaluate(FITS), page.evaluate("() => document.documentElement.scrollWidth")
        screenshot(page, "announcements", f"missed-runs-and-skipped-{suffix}")
        page.close()
