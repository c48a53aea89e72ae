# Each conversation's sort key again: natural order now reads phrases as a whole (长沙
# chang sha, not zhang sha) and a name's polyphonic surname by its surname reading
# (曾 zeng). Only the keys that changed are written.

from django.db import migrations

from conversations.sort_keys import fill_name_sort_keys


class Migration(migrations.Migration):
    # Batched: each window of 1,000 ids commits on its own (CONTRIBUTING.md, Migrations).
    atomic = False

    dependencies = [
        ('conversations', '0032_conversation_active_sort_index'),
    ]

    operations = [
        # No reverse is needed: the previous release reads the new keys as they are, an
        # order a few names apart from its own, until a sync or a message writes its own.
        migrations.RunPython(fill_name_sort_keys, migrations.RunPython.noop),
    ]
