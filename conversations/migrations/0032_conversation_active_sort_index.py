# The audience picker's pages in natural order, as conv_active_name_idx served them by
# name: built after 0030 filled the keys, so the fill does not update the index as well.

from django.db import migrations, models

from botadmin.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    # CONCURRENTLY on PostgreSQL: the conversation table takes writes meanwhile.
    atomic = False

    dependencies = [
        ('conversations', '0031_fill_name_sort_keys'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='conversation',
            index=models.Index(condition=models.Q(('is_active', True)), fields=['bot', 'name_sort_key', 'id'], name='conv_active_sort_idx'),
        ),
    ]
