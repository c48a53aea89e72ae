# Each conversation's sort key again: a user's name is a person's, read surname first
# even where a phrase starts (曾经理 zeng jing li, was ceng jing li; 解放 xie fang), and 卜
# is a surname (卜 bu, was bo). Only the keys that changed are written.

from django.db import migrations

from conversations.sort_keys import fill_name_sort_keys


class Migration(migrations.Migration):
    # Batched: each window of 1,000 ids commits on its own (CONTRIBUTING.md, Migrations).
    atomic = False

    dependencies = [
        ('conversations', '0034_conversation_receiving_kind_index'),
    ]

    operations = [
        # No reverse is needed: the previous release reads the new keys as they are, a
        # few users' names apart from its own order, until a sync or a message writes its own.
        migrations.RunPython(fill_name_sort_keys, migrations.RunPython.noop),
    ]
