"""While a rolling upgrade runs, processes of the previous release still insert after
`migrate` has added columns they do not know: every NOT NULL column has a database
default (`db_default`), which fills it in (PostgreSQL; on SQLite an upgrade restarts
every process at once and the migration setting the defaults does nothing there)."""

import base64

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from standardwebhooks.webhooks import Webhook

from forwarding.models import WebhookEndpoint
from forwarding.webhook_requests import signature_headers
from messaging.models import DeliveryAttempt, Message

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="database defaults are set on PostgreSQL only"
)

# A release whose Message knew none of forward_pending, conversion, sent_as,
# timeline_position and stop_requested, nor DeliveryAttempt its worker.
OLD_RELEASE = [("messaging", "0006_conversation_pending_index")]


@pytest.mark.django_db
def test_the_previous_release_still_inserts_messages_and_attempts(group):
    old = MigrationLoader(connection).project_state(OLD_RELEASE).apps
    OldMessage = old.get_model("messaging", "Message")
    OldAttempt = old.get_model("messaging", "DeliveryAttempt")

    stored = OldMessage.objects.create(
        bot_id=group.bot_id,
        conversation_id=group.pk,
        msgid="m-from-the-old-release",
        direction="out",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "旧版本写入"}},
        status="queued",
        source="api",
    )
    OldAttempt.objects.create(message_id=stored.pk, started_at=stored.created_at, outcome="retry")

    message = Message.objects.get(pk=stored.pk)
    assert (message.forward_pending, message.conversion, message.sent_as) == (False, "", "")
    assert (message.stop_requested, message.timeline_position) == ("", None)
    assert DeliveryAttempt.objects.get(message=message).worker == ""


@pytest.mark.django_db
def test_every_database_default_a_model_declares_is_in_the_database():
    missing = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            columns = {
                c.name: c.default
                for c in connection.introspection.get_table_description(
                    cursor, model._meta.db_table
                )
            }
            for field in model._meta.concrete_fields:
                if field.has_db_default() and columns.get(field.column) is None:
                    missing.append(f"{model._meta.db_table}.{field.column}")
    assert missing == []


# A release whose webhook endpoint had no signing secret of its own (forwarding 0007).
BEFORE_ENDPOINT_SECRETS = [("forwarding", "0006_delivery_page_indexes")]


@pytest.mark.django_db
def test_the_previous_release_still_creates_webhook_endpoints_each_with_a_fresh_secret(bot):
    old = MigrationLoader(connection).project_state(BEFORE_ENDPOINT_SECRETS).apps
    OldEndpoint = old.get_model("forwarding", "WebhookEndpoint")

    created = [
        OldEndpoint.objects.create(bot_id=bot.pk, url=f"https://receiver.example/{n}")
        for n in range(2)
    ]

    endpoints = WebhookEndpoint.objects.filter(pk__in=[e.pk for e in created])
    secrets = [e.signing_secret for e in endpoints]
    assert all(secret.startswith("whsec_") for secret in secrets)
    assert len(base64.b64decode(secrets[0].removeprefix("whsec_"))) == 32
    assert secrets[0] != secrets[1]
    assert [e.previous_signing_secret for e in endpoints] == ["", ""]
    # And it is sent the API secret, as that release sent it (forwarding 0012).
    assert [e.sends_api_secret for e in endpoints] == [True, True]
    headers = signature_headers(secrets[0], "msg_1", "{}")
    Webhook(secrets[0]).verify("{}", headers)
