from django.db import migrations, models


class Migration(migrations.Migration):
    """`last_message_at` only ever recorded inbound messages; the console's "recent
    activity" is the newest message of either direction. The column is renamed
    (its values kept) and its index, which nothing sorted by, is dropped."""

    dependencies = [
        ("conversations", "0008_bot_message_retention_days"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="conversation",
            name="conv_recent_idx",
        ),
        migrations.RenameField(
            model_name="conversation",
            old_name="last_message_at",
            new_name="last_inbound_at",
        ),
        migrations.AlterField(
            model_name="conversation",
            name="last_inbound_at",
            field=models.DateTimeField(
                blank=True, null=True, verbose_name="last inbound message"
            ),
        ),
    ]
