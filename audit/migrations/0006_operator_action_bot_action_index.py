# A bot's newest operator action of one kind (its last connection test) from an index of
# its own: without one, the bot's page and compose read every action to find none.

from django.db import migrations, models

from botadmin.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    # CONCURRENTLY on PostgreSQL: the operator action table takes writes meanwhile.
    atomic = False

    dependencies = [
        ('audit', '0005_foreign_keys_covered_by_other_indexes'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='operatoraction',
            index=models.Index(fields=['bot', 'action', '-created_at'], name='audit_bot_action_idx'),
        ),
    ]
