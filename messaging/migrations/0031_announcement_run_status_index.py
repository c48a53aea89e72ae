import django.db.models.deletion
from django.db import migrations, models

from botadmin.migration_operations import (
    AddIndexWithoutLocking,
    RemoveForeignKeyIndexWithoutLocking,
)


class Migration(migrations.Migration):
    """An announcement run's messages by status (msg_run_status_idx): a run's page counts
    them from the index alone, at 100,000 recipients as at 100. It replaces the foreign
    key's own index, which every message paid for (run empty included), so an insert
    updates one index fewer; the new one holds the announcements' messages only.
    Built before the old one goes, so lookups by run always have an index. CONCURRENTLY
    on PostgreSQL: the message table takes writes meanwhile."""

    atomic = False

    dependencies = [
        ('announcements', '0012_announcement_submission'),
        ('messaging', '0030_message_due_index'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='message',
            index=models.Index(condition=models.Q(('announcement_run__isnull', False)), fields=['announcement_run', 'status', 'next_attempt_at'], name='msg_run_status_idx'),
        ),
        RemoveForeignKeyIndexWithoutLocking(
            model_name='message',
            name='announcement_run',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='messages', to='announcements.announcementrun', verbose_name='announcement run'),
        ),
    ]
