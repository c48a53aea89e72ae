"""The operator sees a running sync progress on the bot page without reloading."""

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

from conversations.models import SyncRun
from tests.browser import chromium, needs_chromium

pytestmark = needs_chromium


@pytest.fixture
def browser_page(live_server, client):
    user = get_user_model().objects.create_superuser("root", password="pw-root-123456")
    client.force_login(user)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    with chromium() as browser:
        context = browser.new_context(locale="en-US")
        context.add_cookies(
            [
                {
                    "name": django_settings.SESSION_COOKIE_NAME,
                    "value": session,
                    "url": live_server.url,
                },
                {
                    "name": django_settings.LANGUAGE_COOKIE_NAME,
                    "value": "en",
                    "url": live_server.url,
                },
            ]
        )
        yield context.new_page()


@pytest.mark.django_db(transaction=True)
def test_a_running_sync_shows_its_progress_without_a_reload(live_server, browser_page, make_bot):
    bot = make_bot(name="progress")
    run = SyncRun.objects.create(bot=bot, trigger=SyncRun.Trigger.ADMIN)
    page = browser_page
    page.goto(f"{live_server.url}/admin/conversations/bot/{bot.pk}/change/")
    page.evaluate("window.notReloaded = true")
    assert "Waiting for a worker" in page.inner_text("#sync")

    SyncRun.objects.filter(pk=run.pk).update(
        outcome=SyncRun.Outcome.RUNNING, pages_fetched=4, groups_added=200
    )
    page.wait_for_selector("#sync td.sync-pages:text-is('4')", timeout=10_000)
    assert "+200" in page.inner_text("#sync")

    SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.SUCCEEDED, pages_fetched=6)
    page.wait_for_selector("#sync tr.sync-succeeded", timeout=10_000)
    assert page.get_attribute(".sync-status", "data-active") == "0"
    assert page.evaluate("window.notReloaded") is True  # the same page, updated in place
