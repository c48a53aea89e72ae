from django.db import migrations, models

from botadmin.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    # CONCURRENTLY on PostgreSQL: the delivery table takes writes meanwhile.
    atomic = False

    dependencies = [
        ('forwarding', '0005_endpoint_health_help'),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name='webhookdelivery',
            index=models.Index(fields=['endpoint', 'id'], name='webhook_delivery_page_idx'),
        ),
        AddIndexWithoutLocking(
            model_name='webhookdelivery',
            index=models.Index(fields=['endpoint', 'status', 'id'], name='webhook_delivery_tab_idx'),
        ),
    ]
