"""The operator sees a running sync progress on the bot page without reloading."""

import os

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connections

from conversations.models import SyncRun

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture
def browser_page(live_server, client, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls of
    # the test itself are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    user = get_user_model().objects.create_superuser("root", password="pw-root-123456")
    client.force_login(user)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
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
        browser.close()
        # Inside Playwright's event loop the ORM used a connection of its own
        # (asgiref's context-local); close it so the test database can be dropped.
        connections.close_all()


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
