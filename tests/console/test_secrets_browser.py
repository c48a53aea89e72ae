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
        page = log_in(context.new_page())
        yield page
        context.close()


def log_in(page):
    page.goto("/console/login/")
    page.get_by_label("用户名").fill("root")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    return page


def reveal_and_copy(page, box, value: str) -> None:
    assert value not in page.content()
    button = box.locator("button")
    button.click()
    expect(box.locator(".secret-value")).to_have_text(value)
    button.click()
    assert page.evaluate("navigator.clipboard.readText()") == value


def test_the_admin_endpoint_page_shows_its_signing_secret_on_demand_and_copies_it(page, make_bot):
    bot = make_bot(name="browser-bot", webhook_url="https://hooks.example/in")
    endpoint = bot.webhook_endpoints.get()

    page.goto(f"/admin/forwarding/webhookendpoint/{endpoint.pk}/change/")
    box = page.locator(".field-signing_secret_revealable .secret")
    reveal_and_copy(page, box, endpoint.signing_secret)
    screenshot(page, "console-secrets", "admin-signing-secret-shown")

    entry = OperatorAction.objects.get(action="secret.reveal")
    assert entry.details == {"secret": "signing_secret", "via": "admin"}
    assert entry.target_id == str(endpoint.pk)


def test_the_console_endpoint_page_reveals_its_signing_secret_and_copies_it(page, make_bot):
    bot = make_bot(name="browser-hooks", webhook_url="https://hooks.example/in")
    endpoint = bot.webhook_endpoints.get()

    page.goto(f"/console/bots/{bot.pk}/webhooks/{endpoint.pk}/")
    reveal_and_copy(page, page.locator("#signing-secret .secret"), endpoint.signing_secret)
    screenshot(page, "console-secrets", "endpoint-signing-secret-revealed")

    entry = OperatorAction.objects.get(action="secret.reveal")
    assert entry.details == {"secret": "signing_secret", "via": "console"}


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


def test_a_rotation_without_grace_asks_first_and_a_refusal_changes_nothing(page, make_bot):
    """ "None: the old secret stops working now" broke every API caller in one click."""
    bot = make_bot(name="rotating-bot")
    first = bot.secret
    asked = []

    def answer(accept: bool):
        def reply(dialog):
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return reply

    page.goto(f"/console/bots/{bot.pk}/secrets/rotate")
    page.get_by_label("不保留：旧密钥立即失效").check()
    page.once("dialog", answer(accept=False))
    page.get_by_role("button", name="签发新密钥").click()
    expect(page.locator("#rotate-form")).to_be_visible()
    screenshot(page, "console-secrets", "rotate-no-grace-refused")
    bot.refresh_from_db()
    assert asked == [
        "立即停用旧 API 密钥？仍在使用它的每个 API 调用方从此刻起都会失败，直到换上新密钥；"
        '检查转发内容中 "secret" 字段的 Webhook 接收方也是如此。'
        "校验 webhook-signature 的接收方不受影响：每个端点都用自己的密钥签名。"
    ]
    assert bot.secret == first

    page.once("dialog", answer(accept=True))
    page.get_by_role("button", name="签发新密钥").click()
    page.wait_for_url(lambda url: "/rotate" not in url)
    bot.refresh_from_db()
    assert len(asked) == 2 and bot.secret != first and bot.previous_secret_expires_at is None

    # With a grace period nothing breaks at once: no question.
    second = bot.secret
    page.goto(f"/console/bots/{bot.pk}/secrets/rotate")
    page.get_by_label("24 小时", exact=False).check()
    page.get_by_role("button", name="签发新密钥").click()
    page.wait_for_url(lambda url: "/rotate" not in url)
    bot.refresh_from_db()
    assert len(asked) == 2 and bot.secret != second and bot.previous_secret == second


def test_without_javascript_a_rotation_without_grace_is_asked_on_a_page(live_server, make_bot):
    """No browser dialog then: the server asks, in the same words, and waits for a yes."""
    get_user_model().objects.create_superuser("root", password=PASSWORD)
    bot = make_bot(name="no-script-bot")
    first = bot.secret
    with chromium() as browser:
        context = browser.new_context(
            base_url=live_server.url, locale="zh-CN", java_script_enabled=False
        )
        page = log_in(context.new_page())
        page.goto(f"/console/bots/{bot.pk}/secrets/rotate")
        page.get_by_label("不保留：旧密钥立即失效").check()
        page.get_by_role("button", name="签发新密钥").click()
        expect(page.locator("#no-grace-warning")).to_contain_text(
            "立即停用旧 API 密钥？仍在使用它的每个 API 调用方从此刻起都会失败"
        )
        screenshot(page, "console-secrets", "rotate-no-grace-asked-without-javascript")
        bot.refresh_from_db()
        assert bot.secret == first

        page.get_by_role("button", name="是的，让旧密钥立即失效").click()
        page.wait_for_url(lambda url: "/rotate" not in url)
        bot.refresh_from_db()
        assert bot.secret != first and bot.previous_secret == ""
        context.close()


def test_fewer_days_of_retention_asks_first_and_more_days_do_not(page, make_bot):
    bot = make_bot(name="retaining-bot", message_retention_days=30)
    asked = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.goto(f"/console/bots/{bot.pk}/settings/")
    form = page.locator("#sending-form")
    field = form.locator("[name=message_retention_days]")
    field.fill("7")
    form.get_by_role("button").click()
    expect(form).to_be_visible()
    bot.refresh_from_db()
    assert len(asked) == 1 and asked[0].startswith("缩短消息保留天数？")
    assert bot.message_retention_days == 30

    field.fill("60")
    form.get_by_role("button").click()
    page.wait_for_load_state()
    expect(page.locator("#sending-form [name=message_retention_days]")).to_have_value("60")
    bot.refresh_from_db()
    assert len(asked) == 1 and bot.message_retention_days == 60


def test_the_rotate_page_lists_the_endpoints_whose_bodies_carry_the_api_secret(page, make_bot):
    bot = make_bot(name="forwarding-bot", webhook_url="https://legacy.example/in")
    bot.webhook_endpoints.create(url="https://signed.example/in", sends_api_secret=False)

    page.goto(f"/console/bots/{bot.pk}/secrets/rotate")

    listed = page.locator("#body-secret")
    expect(listed).to_contain_text("轮换后该字段立即变为新密钥，与宽限期无关")
    expect(listed.get_by_role("link")).to_have_text(["https://legacy.example/in"])
    screenshot(page, "console-secrets", "rotate-body-secret-endpoints")
