from django.db import migrations

from botadmin.migration_operations import AddPostgreSQLIndexWithoutLocking


class Migration(migrations.Migration):
    """PostgreSQL only: the characters of each contact's name, so that a search by
    sender finds the contacts a name part means (conversations.contact_names
    .contacts_named) without reading every contact of the bots. Without GIN's pending
    list (fastupdate off): a contact sync writes names seldom, and a search then reads the
    index alone, not also a list of recent entries until autovacuum merges it (which made
    PostgreSQL walk every contact instead). (docs/performance.md, note 31.)"""

    # CREATE INDEX CONCURRENTLY: the conversation table takes writes meanwhile.
    atomic = False

    dependencies = [
        ("conversations", "0035_refill_name_sort_keys_person_surnames"),
    ]

    operations = [
        AddPostgreSQLIndexWithoutLocking(
            name="conv_contact_chars_idx",
            table="conversations_conversation",
            definition=(
                "USING gin (string_to_array(UPPER(name), NULL)) WITH (fastupdate = off)"
                " WHERE kind = 'user'"
            ),
        ),
    ]
