"""PostgreSQL only: a trigram index serving the console's word search.

Django's `search_text__icontains` compiles to `UPPER(search_text::text) LIKE
UPPER('%word%')` on PostgreSQL; a GIN trigram index on UPPER(search_text)
answers it for any language (Chinese included) without scanning the table.
On SQLite both operations do nothing: the search there scans, correctly.
Creating the pg_trgm extension needs a role allowed to create extensions.
"""

from django.db import migrations

INDEX = "msg_search_trgm_idx"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON messaging_message "
        "USING gin (UPPER(search_text) gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
