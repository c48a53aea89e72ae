"""A webhook endpoint's signing secret in the Django admin: masked, shown (audited) and
rotated with a chosen grace by the bot's admins only, as the bot's API secret is."""

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import OperatorAction
from forwarding.models import WebhookEndpoint
from tests.html_forms import submitted_form


@pytest.fixture
def endpoint(make_bot):
    bot = make_bot(name="hooked", webhook_url="https://hooks.example/in")
    return bot.webhook_endpoints.get()


def admin_url(name, endpoint):
    return reverse(f"admin:forwarding_webhookendpoint_{name}", args=[endpoint.pk])


def test_the_endpoint_page_masks_the_secret_until_a_bot_admin_shows_it(client, superuser, endpoint):
    client.force_login(superuser)
    page = client.get(admin_url("change", endpoint)).content.decode()

    assert endpoint.signing_secret not in page  # not even in the source
    assert f"{endpoint.signing_secret[:10]}••••••••" in page
    assert f'data-reveal-url="{admin_url("reveal_secret", endpoint)}"' in page
    assert admin_url("rotate_secret", endpoint) in page
    assert "botadmin/reveal.js" in page and "botadmin/copy.js" in page

    assert client.get(admin_url("reveal_secret", endpoint)).status_code == 405
    answer = client.post(admin_url("reveal_secret", endpoint))

    assert answer.json() == {"value": endpoint.signing_secret}
    entry = OperatorAction.objects.get(action="secret.reveal")
    assert entry.details == {"secret": "signing_secret", "via": "admin"}
    assert entry.target_id == str(endpoint.pk)


def test_an_operator_who_is_no_bot_admin_sees_it_masked_and_cannot_show_or_rotate_it(
    client, make_operator, endpoint
):
    viewer = make_operator("viewer", endpoint.bot)
    viewer.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(viewer)

    page = client.get(admin_url("change", endpoint)).content.decode()

    assert f"{endpoint.signing_secret[:10]}••••••••" in page
    assert endpoint.signing_secret not in page and "data-reveal-url" not in page
    assert client.post(admin_url("reveal_secret", endpoint)).status_code == 403
    assert (
        client.post(admin_url("rotate_secret", endpoint), {"grace_hours": "1"}).status_code == 403
    )
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).signing_secret == endpoint.signing_secret
    assert not OperatorAction.objects.exists()


def test_another_bots_admin_finds_no_such_endpoint(client, make_operator, make_bot, endpoint):
    client.force_login(make_operator("elsewhere", make_bot(name="other")))

    assert client.post(admin_url("reveal_secret", endpoint)).status_code == 404
    assert client.get(admin_url("rotate_secret", endpoint)).status_code == 404


def test_rotating_keeps_the_old_secret_signing_for_the_chosen_grace(client, superuser, endpoint):
    client.force_login(superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    old = endpoint.signing_secret
    form = client.get(admin_url("rotate_secret", endpoint)).content.decode()
    assert "The bot's other endpoints keep their secrets." in form

    answer = client.post(admin_url("rotate_secret", endpoint), {"grace_hours": "24"}, follow=True)

    endpoint.refresh_from_db()
    assert endpoint.signing_secret != old and endpoint.signing_secrets()[1:] == [old]
    page = answer.content.decode()
    assert "A new webhook signing secret was issued; the old one works until" in page
    assert "also signs until" in page and old not in page
    entry = OperatorAction.objects.get(action="endpoint.rotate_signing_secret")
    assert "(grace 24 h) in the admin" in entry.summary


def test_rotating_without_grace_asks_once_more(client, superuser, endpoint):
    client.force_login(superuser)
    old = endpoint.signing_secret

    asked = client.post(admin_url("rotate_secret", endpoint), {"grace_hours": "0"})

    page = asked.content.decode()
    assert 'id="no-grace-warning"' in page
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).signing_secret == old
    client.post(admin_url("rotate_secret", endpoint), submitted_form(page, "no-grace-form"))
    endpoint.refresh_from_db()
    assert endpoint.signing_secret != old and endpoint.signing_secrets() == [
        endpoint.signing_secret
    ]


def test_an_endpoint_added_in_the_admin_gets_a_fresh_secret_no_one_types(
    client, superuser, endpoint
):
    client.force_login(superuser)
    form = client.get(reverse("admin:forwarding_webhookendpoint_add")).content.decode()
    assert 'name="signing_secret"' not in form
    client.post(
        reverse("admin:forwarding_webhookendpoint_add"),
        {
            "bot": endpoint.bot_id,
            "url": "https://hooks.example/second",
            "msgtypes": "[]",
            "description": "",
            "is_active": "on",
        },
    )

    added = WebhookEndpoint.objects.get(url="https://hooks.example/second")
    assert added.signing_secret.startswith("whsec_")
    assert added.signing_secret != endpoint.signing_secret
