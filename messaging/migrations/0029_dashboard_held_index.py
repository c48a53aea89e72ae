from django.db import migrations, models

from botadmin.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    """The dashboard's count of held messages (outbound, not tried yet, waiting until a
    time) reads the bots' own partial index, as its other counts do (0023)."""

    # CONCURRENTLY on PostgreSQL: the message table takes writes meanwhile.
    atomic = False

    dependencies = [
        ('messaging', '0028_message_autovacuum'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('attempt_count', 0), ('direction', 'out'), ('next_attempt_at__isnull', False), ('status', 'queued')), fields=['bot', 'next_attempt_at', 'attempt_count', 'direction', 'status'], name='msg_bot_held_idx'),
        ),
    ]
