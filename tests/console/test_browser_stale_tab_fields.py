"""A form saved from a tab opened before another tab changed the same field is refused
at its top and on the field itself, in red, with the field's value now (console and
admin). Screenshots land in test-artifacts/console/ (git-ignored)."""

import pytest

from forwarding.models import WebhookEndpoint
from tests.browser import needs_chromium

from .browser import shoot

pytestmark = needs_chromium

SUBMIT = "[name=_save], button[type=submit]"  # the admin's Save, the console's button
RED = "rgb(184, 48, 42)"  # --bad in app.css
NOW = {
    "en": "Another tab or user changed this after this page was opened: it is now “50”.",
    "zh-hans": "本页打开后，其他标签页或其他用户修改了此项，现为“50”。",
}


def in_language(page, live_server, language: str) -> None:
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server.url}]
    )


def stale_save(page, address: str, field: str, form: str, mine: str, theirs: str) -> None:
    """Open `address` in two tabs; the second saves `theirs`, then the first `mine`."""
    other = page.context.new_page()
    page.goto(address)
    other.goto(address)
    other.locator(f"{form} [name={field}]").fill(theirs)
    with other.expect_navigation():
        other.locator(form).locator(SUBMIT).first.click()
    other.close()
    page.locator(f"{form} [name={field}]").fill(mine)
    with page.expect_navigation():
        page.locator(form).locator(SUBMIT).first.click()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_field_changed_in_another_tab_is_drawn_refused_in_the_console(
    page_of_root, live_server, bot, language
):
    from playwright.sync_api import expect

    page = page_of_root
    in_language(page, live_server, language)
    address = f"/console/bots/{bot.pk}/settings/"
    stale_save(page, address, "rate_limit_per_minute", "#sending-form", "7", "50")

    error = page.locator("#id_rate_limit_per_minute_error")
    expect(error).to_have_text(NOW[language])
    assert error.evaluate("e => getComputedStyle(e).color") == RED
    assert page.locator("#id_rate_limit_per_minute").get_attribute("aria-invalid") == "true"
    error.scroll_into_view_if_needed()
    shoot(page, f"stale-tab-field-console-{language}")


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_field_changed_in_another_tab_is_drawn_refused_in_the_admin(
    page_of_root, live_server, bot, language
):
    from playwright.sync_api import expect

    page = page_of_root
    in_language(page, live_server, language)
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example.com/in")
    address = f"/admin/forwarding/webhookendpoint/{endpoint.pk}/change/"
    stale_save(page, address, "description", "#webhookendpoint_form", "mine", "theirs")

    row = page.locator(".form-row.field-description")
    expect(row.locator(".errorlist")).to_contain_text(NOW[language].replace("50", "theirs"))
    assert "errors" in (row.get_attribute("class") or "")
    row.scroll_into_view_if_needed()
    shoot(page, f"stale-tab-field-admin-{language}")
