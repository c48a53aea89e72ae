from django.db import migrations

from botadmin.migration_operations import AddPostgreSQLIndexWithoutLocking


class Migration(migrations.Migration):
    """PostgreSQL only: the characters of each sender's name, for a search by a name part
    of one or two characters, which has no trigram for msg_sender_trgm_idx (a Chinese
    name is often two or three characters). Named messages only: an outbound one has
    none, and /api/send's insert stays as it was. (docs/performance.md, note 31.)"""

    # CREATE INDEX CONCURRENTLY: the message table takes writes meanwhile.
    atomic = False

    dependencies = [
        ("messaging", "0033_message_inbound_by_time_index"),
    ]

    operations = [
        AddPostgreSQLIndexWithoutLocking(
            name="msg_sender_chars_idx",
            table="messaging_message",
            definition=(
                "USING gin (string_to_array(UPPER(sender_name), NULL)) WHERE sender_name <> ''"
            ),
        ),
    ]
