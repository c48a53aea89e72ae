"""Announcements and forwarding became apps of their own: their models leave messaging's state.

The tables keep their names (the new apps set `db_table`); nothing in the database changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("announcements", "0001_models_from_messaging"),
        ("forwarding", "0001_models_from_messaging"),
        ("messaging", "0008_message_conversion_message_sent_as"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables stay as they are; only Django's idea of which app owns them moves.
            state_operations=[
                migrations.RemoveField(
                    model_name="announcementrun",
                    name="announcement",
                ),
                migrations.AlterField(
                    model_name="message",
                    name="announcement_run",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="messages",
                        to="announcements.announcementrun",
                        verbose_name="announcement run",
                    ),
                ),
                migrations.RemoveField(
                    model_name="savedaudience",
                    name="bot",
                ),
                migrations.RemoveField(
                    model_name="savedaudience",
                    name="conversations",
                ),
                migrations.RemoveField(
                    model_name="savedaudience",
                    name="created_by",
                ),
                migrations.RemoveField(
                    model_name="webhookattempt",
                    name="delivery",
                ),
                migrations.RemoveField(
                    model_name="webhookdelivery",
                    name="endpoint",
                ),
                migrations.RemoveField(
                    model_name="webhookdelivery",
                    name="message",
                ),
                migrations.RemoveField(
                    model_name="webhookendpoint",
                    name="bot",
                ),
                migrations.DeleteModel(
                    name="Announcement",
                ),
                migrations.DeleteModel(
                    name="AnnouncementRun",
                ),
                migrations.DeleteModel(
                    name="SavedAudience",
                ),
                migrations.DeleteModel(
                    name="WebhookAttempt",
                ),
                migrations.DeleteModel(
                    name="WebhookDelivery",
                ),
                migrations.DeleteModel(
                    name="WebhookEndpoint",
                ),
            ],
        ),
    ]
