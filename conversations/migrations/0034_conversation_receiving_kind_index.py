# The counts of a bot's users and groups that receive messages from an index of their
# own, since those counts leave out the conversations being deleted.

from django.db import migrations, models

from botadmin.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    # CONCURRENTLY on PostgreSQL: the conversation table takes writes meanwhile.
    atomic = False

    dependencies = [
        ('conversations', '0033_refill_name_sort_keys_phrases'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='conversation',
            index=models.Index(condition=models.Q(('deletion_requested_at__isnull', True), ('is_active', True)), fields=['bot', 'kind', 'is_active', 'deletion_requested_at'], name='conv_receiving_kind_idx'),
        ),
    ]
