"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium through Playwright.

A browser test module sets `pytestmark = needs_chromium` and asks for the
`browser` fixture (or borrows it with `chromium()`). Each test process launches one
Chromium, at its first browser test, and lends it to the next ones; what a test opens
(contexts, their pages, cookies and storage) is closed when it ends. Screenshots land
in test-artifacts/<folder>/ (git-ignored).
"""

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from django.db import connections
from django.db.backends.signals import connection_created

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SKIP_REASON = f"{CHROMIUM} is not installed"

needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=SKIP_REASON),
]


# The pages' `securitypolicyviolation` events, told on the console (an init script runs
# outside the page's policy). Chromium also logs each refusal on the console itself.
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " +
    (event.blockedURI || "inline") + " at " + event.sourceFile + ":" + event.lineNumber +
    " (" + event.sample + ")");
}, true);
"""
_violations: list[str] = []


def _note_violation(message) -> None:
    text = message.text
    if text.startswith("CSP violation") or "Content Security Policy" in text:
        _violations.append(f"{message.page.url if message.page else '?'}: {text}")


def _watch(target):
    """A context or a page, watched before it goes anywhere."""
    target.add_init_script(_REPORT_VIOLATIONS)
    target.on("console", _note_violation)
    return target


def _watched(browser):
    """`browser`, whose new contexts and pages are watched for violations."""
    new_context, new_page = browser.new_context, browser.new_page
    browser.new_context = lambda *args, **kwargs: _watch(new_context(*args, **kwargs))
    browser.new_page = lambda *args, **kwargs: _watch(new_page(*args, **kwargs))
    return browser


def assert_no_csp_violations() -> None:
    """Fails (once) for the violations seen since the last call."""
    seen = list(_violations)
    _violations.clear()
    if seen:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(seen), pytrace=False)


class _Chromium:
    """This test process's Chromium, launched by the first browser test and lent to the
    next ones: a launch costs a second or two, a context (a browser profile of its own:
    cookies, storage, cache) a few milliseconds. Relaunched when it has died."""

    def __init__(self) -> None:
        self._playwright = None
        self._browser = None
        self._lent = 0
        # Playwright's sync API marks its event loop as running in this thread between
        # its calls. Between browser tests it is marked as not, so that the other tests
        # see no loop (asyncio.run, async_to_sync and Django's async-unsafe check work as
        # they would without Playwright). What Playwright left is put back for the next.
        self._paused = False
        self._loop = None

    def lend(self):
        if not self._lent:
            self._resume()
            try:
                if self._browser is None or not self._browser.is_connected():
                    self._launch()
            except BaseException:
                self._pause()
                raise
            _violations.clear()
        self._lent += 1
        return self._browser

    def take_back(self) -> None:
        self._lent -= 1
        if self._lent:
            return
        from playwright.sync_api import Error

        try:
            for context in self._browser.contexts:  # the test's, with their pages
                context.close()
        except Error:
            # Chromium died in the test (whose failure says so), or is not well: the
            # next test launches another.
            with suppress(Error):
                self._browser.close()
            self._browser = None
        finally:
            self._pause()

    def stop(self) -> None:
        if self._playwright is None:
            return
        from playwright.sync_api import Error

        self._resume()
        try:
            if self._browser is not None:
                with suppress(Error):
                    self._browser.close()
        finally:
            self._browser = None
            self._playwright.stop()
            self._playwright = None

    def _launch(self) -> None:
        from playwright.sync_api import Error, sync_playwright

        if self._playwright is not None:
            try:
                self._browser = _watched(
                    self._playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                )
                return
            except Error:  # Playwright's driver has gone too: start another
                self.stop()
        self._playwright = sync_playwright().start()
        self._browser = _watched(
            self._playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        )

    def _pause(self) -> None:
        self._loop = asyncio._get_running_loop()  # none once Playwright's driver is gone
        asyncio._set_running_loop(None)
        self._paused = True

    def _resume(self) -> None:
        if self._paused:
            asyncio._set_running_loop(self._loop)
            self._paused = False
            self._loop = None


_chromium = _Chromium()


def _connections_opened_in_this_thread():
    """A receiver of connection_created noting the connections opened in this thread
    (by any greenlet of it) in its `connections`."""
    thread = threading.get_ident()

    def note(sender, connection, **kwargs) -> None:
        if threading.get_ident() == thread:
            note.connections.append(connection)

    note.connections = []
    connection_created.connect(note, weak=False)
    return note


@contextmanager
def chromium() -> Iterator:
    """This test process's Playwright Browser, for one test: the contexts and pages the
    test opens (browser.new_page opens a context too) are closed when it ends. Skips
    the test when Chromium is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(SKIP_REASON)

    with pytest.MonkeyPatch.context() as env:
        # Playwright's sync API runs an event loop in this thread; Django's ORM calls
        # made by the test between browser steps are still plain synchronous code.
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
        browser = _chromium.lend()
        opened = _connections_opened_in_this_thread()
        try:
            yield browser
        finally:
            _chromium.take_back()
            # Test code between browser steps runs in Playwright's greenlets, whose
            # database connections connections.close_all() does not see (asgiref's Local
            # keeps one set per context): close them too, or the test database cannot be
            # dropped while the browser lives on.
            connection_created.disconnect(opened)
            connections.close_all()
            for connection in opened.connections:
                connection.close()
    assert_no_csp_violations()  # those told after the test's last step


def stop_chromium() -> None:
    """At the end of the test process."""
    _chromium.stop()


@pytest.fixture
def browser():
    with chromium() as lent:
        yield lent


def screenshot(page, folder: str, name: str) -> None:
    """The whole page as test-artifacts/<folder>/<name>.png."""
    from playwright.sync_api import Error

    (ARTIFACTS / folder).mkdir(parents=True, exist_ok=True)
    path = str(ARTIFACTS / folder / f"{name}.png")
    try:
        page.screenshot(path=path, full_page=True)
    except Error as error:
        # Chromium now and then answers "Unable to capture screenshot" right after a
        # navigation (seen once in CI): the picture is for people to look at, so one
        # more try, a frame later, rather than a failed test.
        if "Unable to capture screenshot" not in str(error):
            raise
        page.wait_for_timeout(200)
        page.screenshot(path=path, full_page=True)
