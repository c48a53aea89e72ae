import django.db.models.functions.comparison
from django.db import migrations, models

from botadmin.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    """The oldest due message of each bot, and what its queue holds until a time, read
    from the bot's queued messages by when each may be sent (messaging/queue_health.py)."""

    # CONCURRENTLY on PostgreSQL: the message table takes writes meanwhile.
    atomic = False

    dependencies = [
        ('messaging', '0029_dashboard_held_index'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(models.F('bot'), django.db.models.functions.comparison.Coalesce('next_attempt_at', 'scheduled_at', 'created_at'), condition=models.Q(('direction', 'out'), ('status', 'queued')), include=('conversation', 'id', 'next_attempt_at', 'scheduled_at', 'created_at'), name='msg_bot_due_idx'),
        ),
    ]
