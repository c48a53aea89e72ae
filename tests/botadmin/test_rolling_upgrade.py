"""While a rolling upgrade runs, processes of the previous release still insert after
`migrate` has added columns they do not know: every NOT NULL column has a database
default (`db_default`), which fills it in (PostgreSQL; on SQLite an upgrade restarts
every process at once and the migration setting the defaults does nothing there)."""

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.loader import MigrationLoader

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
