# The lists of contacts sort by the natural order of the names (botadmin.natural_order):
# 用户2 before 用户10, Chinese names by their pinyin. The key of each name is kept in a
# column of its own (compared in PostgreSQL's "C" collation), filled by 0030 and
# indexed by 0031.

import conversations.sort_keys
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0029_conversation_deletion'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='conversation',
            options={'ordering': ['bot', 'kind', 'name_sort_key'], 'verbose_name': 'conversation', 'verbose_name_plural': 'conversations'},
        ),
        # With its database default, a host still on the previous release inserts as before.
        migrations.AddField(
            model_name='conversation',
            name='name_sort_key',
            field=conversations.sort_keys.NameSortKeyField(db_default='', default='', editable=False, max_length=255, verbose_name="name's sort key"),
        ),
    ]
