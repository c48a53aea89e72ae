# Agent health's walk of a bot's tried messages by time (msg_bot_attempted_at_idx), in
# place of by id (msg_bot_attempted_idx): an order the primary key cannot serve, so
# PostgreSQL no longer walks the whole message table back for a bot that never sent.

from django.db import migrations, models

from botadmin.migration_operations import AddIndexWithoutLocking, RemoveIndexWithoutLocking


class Migration(migrations.Migration):
    # CONCURRENTLY on PostgreSQL: the message table takes writes meanwhile.
    atomic = False

    dependencies = [
        ('messaging', '0031_announcement_run_status_index'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('attempt_count__gt', 0), ('direction', 'out')), fields=['bot', '-created_at'], name='msg_bot_attempted_at_idx'),
        ),
        RemoveIndexWithoutLocking(
            model_name='message',
            name='msg_bot_attempted_idx',
        ),
    ]
