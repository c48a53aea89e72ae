# Agent health's newest inbound message of each bot (when it was last reported one), from
# an index of inbound messages only: with inbound messages nearly none, PostgreSQL scanned
# the whole message table for each bot (docs/performance.md note 28).

from django.db import migrations, models

from botadmin.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    # CONCURRENTLY on PostgreSQL: the message table takes writes meanwhile.
    atomic = False

    dependencies = [
        ('messaging', '0032_message_attempted_by_time_index'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('direction', 'in')), fields=['bot', '-created_at'], name='msg_bot_inbound_at_idx'),
        ),
    ]
