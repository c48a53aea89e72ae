"""The session ends while a history is open. Screenshots land in test-artifacts/console/."""

from urllib.parse import urlsplit

from tests.browser import needs_chromium
from tests.polling import wait_until

from .browser import log_in, open_conversation, shoot

pytestmark = needs_chromium

POLL_SECONDS = 3  # console/templates/console/history/_poller.html


def test_the_open_history_says_the_login_expired_instead_of_drawing_the_login_page(page, demo):
    """Its live updates went on asking, got the login page, and htmx drew it inside the
    timeline (whose autofocus took the focus from the reply box)."""
    from playwright.sync_api import expect

    _bot, group = demo
    log_in(page)
    open_conversation(page, group.name)
    page.locator("#id_content").fill("写到一半的回复")

    page.context.clear_cookies(name="sessionid")

    notices = page.locator(".flash-note[role=alert]")
    expect(notices).to_have_text("登录已过期：此页面不再更新。 重新登录")
    link = notices.get_by_role("link", name="重新登录")
    assert link.get_attribute("href") == f"/console/login/?next={urlsplit(page.url).path}"
    expect(page.locator("#timeline input[name=password]")).to_have_count(0)
    expect(page.locator("#id_content")).to_have_value("写到一半的回复")
    # The polling stopped: no second notice after another period.
    assert not wait_until(lambda: notices.count() > 1, timeout=POLL_SECONDS + 1, interval=0.25)
    shoot(page, "session-ended-history")
