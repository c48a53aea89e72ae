# The lease of a delivery in flight moves to next_attempt_at (the outbox protocol,
# messaging/outbox.py), as a message's does.

from django.db import migrations
from django.db.models import F


def keep_leases(apps, schema_editor):
    WebhookDelivery = apps.get_model("forwarding", "WebhookDelivery")
    WebhookDelivery.objects.filter(status="delivering").update(next_attempt_at=F("claimed_until"))


class Migration(migrations.Migration):

    dependencies = [
        ('forwarding', '0001_models_from_messaging'),
    ]

    operations = [
        migrations.RunPython(keep_leases, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='webhookdelivery',
            name='claimed_until',
        ),
    ]
