from django.db import migrations, models

from botadmin.migration_operations import AddIndexWithoutLocking, RemoveIndexWithoutLocking


class Migration(migrations.Migration):
    # CONCURRENTLY on PostgreSQL: the message table takes writes meanwhile.
    atomic = False

    dependencies = [
        ('messaging', '0016_dashboard_attempted_index'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('status__in', ['queued', 'sending'])), fields=['conversation', 'id'], name='msg_conversation_delivery_idx'),
        ),
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('status', 'uncertain')), fields=['conversation', 'id'], name='msg_conversation_uncertain_idx'),
        ),
        RemoveIndexWithoutLocking(
            model_name='message',
            name='msg_conversation_blocking_idx',
        ),
    ]
