"""The console's main pages pass a small accessibility check in both languages
(tests/console/accessibility_check.js): every control labelled, every button and link
named, table headers and progress bars named, headings in order, status badges
readable (4.5:1), and `lang` the chosen language. One pass over a dozen pages."""

from pathlib import Path

import pytest
from django.utils import timezone

from announcements.fanout import fan_out
from announcements.models import Announcement
from announcements.scheduler import start_due_announcements
from forwarding.models import WebhookEndpoint
from tests.browser import needs_chromium

from .browser import daily_announcement, log_in

pytestmark = needs_chromium

CHECK = (Path(__file__).parent / "accessibility_check.js").read_text(encoding="utf-8")


@pytest.fixture
def main_pages(demo):
    """The demo, with an announcement whose first run is sending and a webhook endpoint."""
    bot, group = demo
    announcement = daily_announcement(bot, group, "每日提醒", "早上好", as_draft=False)
    Announcement.objects.filter(pk=announcement.pk).update(next_run_at=timezone.now())
    for run_id in start_due_announcements():
        fan_out(run_id)
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example/in")
    return [
        "/console/dashboard/",
        "/console/bots/",
        f"/console/bots/{bot.pk}/settings/",
        f"/console/bots/{bot.pk}/",
        f"/console/bots/{bot.pk}/conversations/{group.pk}/",
        "/console/announcements/",
        "/console/announcements/new/",
        f"/console/announcements/{announcement.pk}/",
        f"/console/announcements/{announcement.pk}/recipients/",
        f"/console/bots/{bot.pk}/webhooks/",
        f"/console/bots/{bot.pk}/webhooks/{endpoint.pk}/",
        "/console/audit/",
        "/console/audit/actions/",
        "/console/search/?q=历史",
        f"/console/bots/{bot.pk}/delete",
        # A document whose table has an empty corner cell (`| | robot bots | bridge bots |`).
        "/console/docs/api/",
    ]


@pytest.mark.parametrize("language, lang", [("简体中文", "zh-hans"), ("English", "en")])
def test_the_main_pages_pass_the_accessibility_check(page, main_pages, language, lang):
    page.goto("/console/login/")
    assert page.evaluate(CHECK) == {"lang": "zh-hans", "problems": []}
    log_in(page)
    page.wait_for_url("**/console/**")
    page.get_by_role("group", name="语言").get_by_role("button", name=language).click()
    page.wait_for_load_state()
    found = {}
    for url in main_pages:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        result = page.evaluate(CHECK)
        if result != {"lang": lang, "problems": []}:
            found[url] = result
    assert not found, found
