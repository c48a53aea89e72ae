"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium through Playwright.

A browser test module sets `pytestmark = needs_chromium` and asks for the
`browser` fixture (or starts one with `chromium()`). Screenshots land in
test-artifacts/<folder>/ (git-ignored).
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections

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


@contextmanager
def chromium() -> Iterator:
    """A launched Playwright Browser; skips the test when Chromium is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as env, sync_playwright() as playwright:
        # Playwright's sync API runs an event loop in this thread; Django's ORM calls
        # made by the test between browser steps are still plain synchronous code.
        env.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
        browser = _watched(playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS))
        _violations.clear()
        try:
            yield browser
        finally:
            # Test code between browser steps runs in Playwright's greenlet, which has
            # its own database connection: close it, or the test database cannot be dropped.
            connections.close_all()
            browser.close()
        assert_no_csp_violations()  # those told after the test's last step


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


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
