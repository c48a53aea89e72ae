"""The Chromium a test process shares between its browser tests (tests/browser.py):
each test finds it clean, the tests after it run as without a browser, and one that
died is launched again."""

import asyncio

import pytest
from django.db import connection

from tests.browser import chromium, needs_chromium

pytestmark = needs_chromium


def test_the_next_test_finds_no_cookies_storage_or_pages_of_the_one_before(live_server):
    with chromium() as browser:
        page = browser.new_page()
        page.goto(live_server.url + "/console/login/")
        page.context.add_cookies([{"name": "left", "value": "1", "url": live_server.url}])
        page.evaluate("localStorage.setItem('left', '1')")

    with chromium() as browser:
        assert browser.contexts == []
        page = browser.new_page()
        page.goto(live_server.url + "/console/login/")
        assert [cookie["name"] for cookie in page.context.cookies()] == ["csrftoken"]
        assert page.evaluate("localStorage.getItem('left')") is None


def test_a_test_that_fails_with_its_pages_open_leaves_the_browser_clean(live_server):
    with pytest.raises(AssertionError), chromium() as browser:
        page = browser.new_page()
        page.goto(live_server.url + "/console/login/")
        page.evaluate("setTimeout(() => alert('still open'), 50)")
        other = browser.new_context().new_page()
        other.goto(live_server.url + "/console/login/", wait_until="commit")
        raise AssertionError("the test's own failure")

    with chromium() as browser:
        assert browser.contexts == []
        page = browser.new_page()
        page.goto(live_server.url + "/console/login/")
        assert page.title()


def test_between_browser_tests_no_event_loop_runs_in_the_test_process(live_server, db):
    with chromium() as browser:
        browser.new_page().goto(live_server.url + "/console/login/")

    # As in a process that never ran a browser test: no loop, and the ORM without
    # DJANGO_ALLOW_ASYNC_UNSAFE.
    assert asyncio._get_running_loop() is None
    assert asyncio.run(asyncio.sleep(0, result="ran")) == "ran"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    with chromium() as browser:  # and Playwright's loop goes on in the next one
        page = browser.new_page()
        page.goto(live_server.url + "/console/login/")
        assert page.title()


def test_a_chromium_that_crashed_in_a_test_is_launched_again_for_the_next(live_server):
    from playwright.sync_api import Error

    with chromium() as browser:
        crashed = browser
        with pytest.raises(Error):  # no answer: the browser has gone
            browser.new_browser_cdp_session().send("Browser.crash")
        with pytest.raises(Error):  # and the test fails
            browser.new_page()

    with chromium() as browser:
        assert browser is not crashed and browser.is_connected()
        page = browser.new_page()
        page.goto(live_server.url + "/console/login/")
        assert page.title()
