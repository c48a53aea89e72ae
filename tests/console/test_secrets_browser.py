"""Secrets in a real browser: masked on load, "show"/"Reveal" posts for the value
(audited), and the same button then copies it to the clipboard.

Screenshots land in test-artifacts/console-secrets/.
"""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from audit.models import OperatorAction
from tests.browser import chromium, needs_chromium, screenshot
from tests.connectors.wecom_app.conftest import AES_KEY, app_settings

pytestmark = [*needs_chromium, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-root-browser-1"


@pytest.fixture
def page(live_server):
    get_user_model().objects.create_superuser("root", password=PASSWORD)
    with chromium() as browser:
        context = browser.new_context(base_url=live_server.url, locale="zh-CN")
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.goto("/console/login/")
        page.get_by_label("用户名").fill("root")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(lambda url: "/login/" not in url)
        yield page
        context.close()


def reveal_and_copy(page, box, value: str) -> None:
    assert value not in page.content()
    button = box.locator("button")
    button.click()
    expect(box.locator(".secret-value")).to_have_text(value)
    button.click()
    assert page.evaluate("navigator.clipboard.readText()") == value


def test_the_admin_bot_page_shows_a_secret_on_demand_and_copies_it(page, make_bot):
    bot = make_bot(name="browser-bot")

    page.goto(f"/admin/conversations/bot/{bot.pk}/change/")
    box = page.locator(".field-signing_secret_revealable .secret")
    reveal_and_copy(page, box, bot.signing_secret)
    screenshot(page, "console-secrets", "admin-signing-secret-shown")

    entry = OperatorAction.objects.get(action="secret.reveal")
    assert entry.details == {"secret": "signing_secret", "via": "admin"}


def test_the_app_setup_page_reveals_the_key_and_copies_it(page, make_bot):
    bot = make_bot(
        name="browser-app",
        connector="wecom_app",
        agent_url="",
        agent_token="",
        connector_settings=app_settings(),
    )

    page.goto(f"/console/bots/{bot.pk}/app-setup/")
    reveal_and_copy(page, page.locator("#encoding-aes-key .secret"), AES_KEY)
    screenshot(page, "console-secrets", "app-setup-key-revealed")

    assert OperatorAction.objects.get(action="secret.reveal").details["secret"] == (
        "encoding_aes_key"
    )
