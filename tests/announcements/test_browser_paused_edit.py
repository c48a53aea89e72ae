"""Browser test: editing a paused announcement of a bot whose last contact sync failed.
The note that it stays paused touched the warning about the sync above it, as if one
box, while every other card on the page keeps 16 px from the next."""

import re

import pytest

from announcements import operator_actions
from conversations.models import SyncRun
from tests.browser import needs_chromium, screenshot

from .test_browser import open_compose_page

pytestmark = needs_chromium


def gap(page, upper: str, lower: str) -> float:
    return page.evaluate(
        """([upper, lower]) => document.querySelector(lower).getBoundingClientRect().top
            - document.querySelector(upper).getBoundingClientRect().bottom""",
        [upper, lower],
    )


@pytest.mark.django_db(transaction=True)
def test_the_paused_note_stands_apart_from_the_bots_trouble_warning(
    live_server, browser, bot, make_groups, make_announcement, superuser
):
    announcement = make_announcement(
        bot, make_groups(bot, 2), kind="daily", schedule={"time": "09:30"}
    )
    operator_actions.pause(superuser, announcement)
    SyncRun.objects.create(bot=bot, trigger="console", outcome="failed", error="boom")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    open_compose_page(page, live_server)

    page.goto(f"{live_server.url}/console/announcements/{announcement.pk}/edit/")

    page.wait_for_url(re.compile(r"/edit/$"))
    screenshot(page, "announcements", "paused-edit-trouble")
    assert page.is_visible("#bot-trouble") and page.is_visible("#paused-edit-note")
    assert gap(page, "#bot-trouble", "#paused-edit-note") >= 16
