"""PostgreSQL only: a trigram index serving the console's word search.

Django's `search_text__icontains` compiles to `UPPER(search_text::text) LIKE
UPPER('%word%')` on PostgreSQL; a GIN trigram index on UPPER(search_text)
answers it for any language (Chinese included) without scanning the table.
On SQLite the operation does nothing: the search there scans, correctly.
Creating the pg_trgm extension needs a role allowed to create extensions.

Built CONCURRENTLY (about 10 s per million messages, writes going on meanwhile);
it was a plain CREATE INDEX IF NOT EXISTS, which held every insert for as long. The
index is the same, and an install that built it before skips it (IF NOT EXISTS).
"""

from django.db import migrations

from botadmin.migration_operations import AddPostgreSQLIndexWithoutLocking


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY on PostgreSQL: the message table takes writes meanwhile.
    atomic = False

    dependencies = [("messaging", "0001_initial")]

    operations = [
        AddPostgreSQLIndexWithoutLocking(
            name="msg_search_trgm_idx",
            table="messaging_message",
            definition="USING gin (UPPER(search_text) gin_trgm_ops)",
            extension="pg_trgm",
        ),
    ]
