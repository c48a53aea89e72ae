from django.db import migrations, models


class Migration(migrations.Migration):
    """The `send_at` the first answer to an Idempotency-Key's request gave, so a replay
    answers it byte for byte. Nullable, no default: a catalogue change on PostgreSQL, and
    the previous release's inserts leave it NULL (a row it replays as before, in UTC)."""

    dependencies = [
        ("messaging", "0034_message_sender_name_characters_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="send_at_answered",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
    ]
