"""A webhook endpoint's admin page saved from a tab opened before another tab (or
another user, or forwarding itself) changed the endpoint: it saves what it changed, keeps
what the other one changed, and is refused for a field both changed."""

import html
import re

import pytest
from django.urls import reverse

from forwarding.models import WebhookEndpoint
from forwarding.signing_secrets import rotate_signing_secret
from tests.html_forms import submitted_form
from tests.meanwhile import before_saving

REFUSED = {
    "en": "Not saved: after this page was opened, another tab or user changed what this page "
    "changes too. URL is now “http://127.0.0.1:9/theirs?token=********”.",
    "zh-hans": "未保存：本页打开后，其他标签页或其他用户也修改了本页要修改的内容。"
    "URL现为“http://127.0.0.1:9/theirs?token=********”。",
}
FIELD_REFUSED = {
    "en": "Another tab or user changed this after this page was opened: it is now “%s”.",
    "zh-hans": "本页打开后，其他标签页或其他用户修改了此项，现为“%s”。",
}


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def endpoint(make_bot) -> WebhookEndpoint:
    bot = make_bot(name="hooked")
    return WebhookEndpoint.objects.create(bot=bot, url="http://127.0.0.1:9/in", msgtypes=[])


def endpoint_tab(client, endpoint: WebhookEndpoint, language: str = "en") -> dict:
    client.cookies["django_language"] = language
    page = client.get(reverse("admin:forwarding_webhookendpoint_change", args=[endpoint.pk]))
    return submitted_form(page.content.decode(), "webhookendpoint_form")


def save(client, endpoint: WebhookEndpoint, form: dict, **changes):
    return client.post(
        reverse("admin:forwarding_webhookendpoint_change", args=[endpoint.pk]),
        {**form, **changes},
    )


def saved(response) -> None:
    assert response.status_code == 302, response.content.decode()[:3000]


def test_a_tab_opened_before_another_switched_the_endpoint_off_leaves_it_off(
    admin_client, endpoint
):
    """Its description saved, it switched the endpoint back on with the box it showed."""
    stale = endpoint_tab(admin_client, endpoint)
    fresh = endpoint_tab(admin_client, endpoint)
    del fresh["is_active"]
    saved(save(admin_client, endpoint, fresh))

    saved(save(admin_client, endpoint, stale, description="客服系统"))

    endpoint.refresh_from_db()
    assert (endpoint.is_active, endpoint.description) == (False, "客服系统")


def test_a_signing_secret_rotated_while_the_endpoint_is_saved_keeps_the_new_secret(
    admin_client, endpoint
):
    """The whole row the page's save read was written back over the rotation: receivers
    were sent the old secret's signatures again, and the new one they were given failed."""
    tab = endpoint_tab(admin_client, endpoint)

    def rotated() -> None:
        rotate_signing_secret(WebhookEndpoint.objects.get(pk=endpoint.pk), actor=None)

    with before_saving(WebhookEndpoint, rotated) as ran:
        saved(save(admin_client, endpoint, tab, description="客服系统"))

    assert ran
    before = endpoint.signing_secret
    endpoint.refresh_from_db()
    assert endpoint.signing_secret != before
    assert endpoint.previous_signing_secret == before
    assert endpoint.description == "客服系统"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_url_changed_in_both_tabs_is_refused_naming_the_url_now_masked_until_saved_again(
    admin_client, endpoint, language
):
    stale = endpoint_tab(admin_client, endpoint, language)
    theirs = "http://127.0.0.1:9/theirs?token=their-secret"
    saved(save(admin_client, endpoint, endpoint_tab(admin_client, endpoint, language), url=theirs))

    refused = save(admin_client, endpoint, stale, url="http://127.0.0.1:9/mine", description="mine")

    assert refused.status_code == 200
    page = html.unescape(refused.content.decode())
    assert REFUSED[language] in page
    assert "their-secret" not in page
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description) == (theirs, "")
    saved(
        save(
            admin_client, endpoint, submitted_form(refused.content.decode(), "webhookendpoint_form")
        )
    )
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description) == ("http://127.0.0.1:9/mine", "mine")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_url_changed_in_two_tabs_is_drawn_as_refused_on_the_url_field(
    admin_client, endpoint, language
):
    """The refusal was only at the form's top: the URL row it is about looked fine."""
    stale = endpoint_tab(admin_client, endpoint, language)
    fresh = endpoint_tab(admin_client, endpoint, language)
    saved(save(admin_client, endpoint, fresh, url="http://127.0.0.1:9/theirs?token=abc123"))

    refused = save(admin_client, endpoint, stale, url="http://127.0.0.1:9/mine")

    page = html.unescape(refused.content.decode())
    row = re.search(r'<div class="form-row([^"]*) field-url">(.*?)</div>\s*</div>', page, re.S)
    assert row and "errors" in row.group(1), page[:3000]
    now = "http://127.0.0.1:9/theirs?token=********"
    assert FIELD_REFUSED[language] % now in re.sub(r"<[^>]+>", "", row.group(2))
