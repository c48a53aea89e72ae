"""A webhook endpoint's own signing secret in the console: shown masked on the endpoint's
page, revealed (audited) and rotated with a chosen grace by the bot's admins only; a
test event then carries the signatures a real receiver verifies."""

import pytest
from django.urls import reverse

from audit.models import OperatorAction
from forwarding.models import WebhookEndpoint
from tests.html_forms import submitted_form


@pytest.fixture
def endpoint(bot, receiver):
    return WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/hook"))


def url(name, endpoint):
    return reverse(f"console:{name}", args=[endpoint.bot_id, endpoint.pk])


def test_the_endpoint_page_shows_its_secret_masked_and_a_bot_admin_reveals_it(
    operator_client, operator, endpoint
):
    page = operator_client.get(url("webhook", endpoint)).content.decode()

    assert endpoint.signing_secret not in page  # not even in the source
    shown = page.split('id="signing-secret"')[1].split("</section>")[0]
    assert f"{endpoint.signing_secret[:10]}••••••••" in shown
    assert f'data-reveal-url="{url("webhook_reveal_secret", endpoint)}"' in shown
    assert url("webhook_rotate_secret", endpoint) in shown
    assert "botadmin/reveal.js" in page and "botadmin/copy.js" in page

    answer = operator_client.post(url("webhook_reveal_secret", endpoint))

    assert answer.json() == {"value": endpoint.signing_secret}
    entry = OperatorAction.objects.get(action="secret.reveal")
    assert (entry.actor, entry.bot_id, entry.target_id) == (
        operator,
        endpoint.bot_id,
        str(endpoint.pk),
    )
    assert endpoint.signing_secret not in f"{entry.summary} {entry.details} {entry.target_label}"


def test_an_operator_who_is_no_bot_admin_sees_it_masked_and_may_not_reveal_or_rotate(
    reader, endpoint
):
    page = reader.get(url("webhook", endpoint)).content.decode()
    shown = page.split('id="signing-secret"')[1].split("</section>")[0]
    assert f"{endpoint.signing_secret[:10]}••••••••" in shown
    assert "data-reveal-url" not in shown and "secret/rotate" not in shown

    assert reader.post(url("webhook_reveal_secret", endpoint)).status_code == 403
    assert reader.get(url("webhook_rotate_secret", endpoint)).status_code == 403
    assert (
        reader.post(url("webhook_rotate_secret", endpoint), {"grace_hours": "24"}).status_code
        == 403
    )
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).signing_secret == endpoint.signing_secret
    assert not OperatorAction.objects.exists()


def test_another_bots_endpoint_secret_is_not_found(operator_client, bot, other_bot, receiver):
    theirs = WebhookEndpoint.objects.create(bot=other_bot, url=receiver.url("/theirs"))
    mixed = reverse("console:webhook_reveal_secret", args=[bot.pk, theirs.pk])

    assert operator_client.post(mixed).status_code == 404
    assert operator_client.post(url("webhook_reveal_secret", theirs)).status_code == 404
    assert operator_client.get(url("webhook_rotate_secret", theirs)).status_code == 404


def test_revealing_is_a_post(operator_client, endpoint):
    assert operator_client.get(url("webhook_reveal_secret", endpoint)).status_code == 405


def test_a_rotation_with_grace_signs_test_events_with_both_secrets_and_the_page_tells_them_apart(
    operator_client, operator, bot, endpoint, receiver
):
    bot.timezone = "Asia/Shanghai"
    bot.save()
    old = endpoint.signing_secret
    form = operator_client.get(url("webhook_rotate_secret", endpoint)).content.decode()
    assert "CST" in form

    answer = operator_client.post(
        url("webhook_rotate_secret", endpoint), {"grace_hours": "24"}, follow=True
    )

    endpoint.refresh_from_db()
    new = endpoint.signing_secret
    assert new != old and endpoint.previous_signing_secret == old
    page = answer.content.decode()
    assert "已签发新的 Webhook 签名密钥" in page and "CST" in page
    current = page.split('data-secret="signing_secret"')[1].split("</code>")[0]
    previous = page.split('id="signing-secret-grace"')[1].split("</code>")[0]
    assert f"{new[:10]}••••••••" in current and f"{old[:10]}••••••••" in previous
    assert new not in page and old not in page
    entry = OperatorAction.objects.get(action="endpoint.rotate_signing_secret")
    assert (entry.actor, entry.target_id) == (operator, str(endpoint.pk))
    assert "(grace 24 h) in the console" in entry.summary

    operator_client.post(url("webhook_test", endpoint))
    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert request.verifies_with(old) and request.verifies_with(new)


def test_a_rotation_without_grace_is_asked_first_then_signs_with_the_new_secret_alone(
    operator_client, endpoint, receiver
):
    operator_client.cookies["django_language"] = "en"
    old = endpoint.signing_secret

    asked = operator_client.post(url("webhook_rotate_secret", endpoint), {"grace_hours": "0"})

    page = asked.content.decode()
    assert asked.status_code == 400 and 'id="no-grace-warning"' in page
    # Its receiver is who fails, not the API's callers.
    assert (
        "Stop signing with the old secret now? A receiver still verifying with it refuses "
        "every delivery from this moment until it is given the new one"
    ) in page
    assert "API caller" not in page
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).signing_secret == old
    confirmed = operator_client.post(
        url("webhook_rotate_secret", endpoint), submitted_form(page, "no-grace-form")
    )

    assert confirmed.status_code == 302
    assert confirmed["Location"].endswith(url("webhook", endpoint) + "#signing-secret")
    endpoint.refresh_from_db()
    assert endpoint.signing_secret != old and endpoint.previous_signing_secret == ""
    operator_client.post(url("webhook_test", endpoint))
    (request,) = receiver.requests
    assert request.verifies_with(endpoint.signing_secret) and not request.verifies_with(old)


def test_rotating_one_endpoint_leaves_the_bots_other_endpoints_alone(
    operator_client, bot, endpoint, receiver
):
    other = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/other"))

    operator_client.post(url("webhook_rotate_secret", endpoint), {"grace_hours": "1"})

    assert WebhookEndpoint.objects.get(pk=other.pk).signing_secret == other.signing_secret
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).signing_secret != endpoint.signing_secret


def test_the_bot_page_no_longer_shows_a_signing_secret_and_points_to_the_endpoints(
    operator_client, bot, endpoint
):
    page = operator_client.get(reverse("console:bot", args=[bot.pk])).content.decode()

    assert 'data-secret="signing_secret"' not in page
    assert bot.signing_secret[:10] not in page
    credentials = page.split('id="credentials"')[1].split("</section>")[0]
    assert reverse("console:webhooks", args=[bot.pk]) in credentials
    assert (
        operator_client.post(
            reverse("console:bot_reveal", args=[bot.pk, "signing_secret"])
        ).status_code
        == 404
    )

    rotate = operator_client.get(reverse("console:bot_rotate", args=[bot.pk])).content.decode()
    assert url("webhook_rotate_secret", endpoint) in rotate.split('id="endpoint-secrets"')[1]
