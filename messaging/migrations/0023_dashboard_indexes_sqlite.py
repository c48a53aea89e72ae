from django.db import migrations, models

from botadmin.migration_operations import AddIndexWithoutLocking, RemoveIndexWithoutLocking


class Migration(migrations.Migration):
    """The dashboard's and the status filter's partial indexes, with conditions SQLite can
    match to the queries (botadmin.partial_indexes.index_condition): written
    `status IN (...)` or `NOT status IN (...)`, they were never used on SQLite, whose
    queries read the bots' whole history instead; and with the columns each count reads
    in their keys (SQLite has no INCLUDE). The new ones are built before the old go."""

    # CONCURRENTLY on PostgreSQL: the message table takes writes meanwhile.
    atomic = False

    dependencies = [
        ('messaging', '0022_stop_requested'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('status', 'sent'), ('status', 'received'), _connector='OR', _negated=True), fields=['status', '-id'], name='msg_status_other_idx'),
        ),
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('direction', 'out'), models.Q(('status', 'queued'), ('status', 'sending'), _connector='OR')), fields=['bot', 'created_at', 'direction', 'status'], name='msg_bot_in_delivery_idx'),
        ),
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('attempt_count__gt', 0), ('direction', 'out'), models.Q(('status', 'queued'), ('status', 'sending'), _connector='OR')), fields=['bot', 'attempt_count', 'direction', 'status'], name='msg_bot_retrying_idx'),
        ),
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('direction', 'out'), models.Q(('status', 'failed'), ('status', 'uncertain'), _connector='OR')), fields=['bot', 'created_at', 'direction', 'status'], name='msg_bot_undelivered_at_idx'),
        ),
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('forward_pending', True)), fields=['bot', 'created_at', 'forward_pending'], name='msg_bot_forward_pending_idx'),
        ),
        RemoveIndexWithoutLocking(
            model_name='message',
            name='msg_status_idx',
        ),
        RemoveIndexWithoutLocking(
            model_name='message',
            name='msg_bot_waiting_idx',
        ),
        RemoveIndexWithoutLocking(
            model_name='message',
            name='msg_bot_undelivered_idx',
        ),
    ]
