# Each existing conversation gets the sort key of its name.

from django.db import migrations

from conversations.sort_keys import fill_name_sort_keys


class Migration(migrations.Migration):
    # Batched: each window of 1,000 ids commits on its own (CONTRIBUTING.md, Migrations).
    atomic = False

    dependencies = [
        ('conversations', '0030_conversation_name_sort_key'),
    ]

    operations = [
        # No reverse is needed: the previous release does not read the column.
        migrations.RunPython(fill_name_sort_keys, migrations.RunPython.noop),
    ]
