"""The forwarding models, moved from the messaging app with their tables (`db_table`) unchanged."""

import django.db.models.deletion
from django.db import migrations, models


APP = "forwarding"
MODELS = ['webhookendpoint', 'webhookdelivery', 'webhookattempt']


def rename_content_types(apps, schema_editor):
    """Keep the content types (and so the permissions given to operators, and admin log
    entries) of models that moved here from `messaging`."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    taken = set(
        ContentType.objects.filter(app_label=APP, model__in=MODELS).values_list("model", flat=True)
    )
    ContentType.objects.filter(app_label="messaging", model__in=set(MODELS) - taken).update(
        app_label=APP
    )


def restore_content_types(apps, schema_editor):
    """The mirror of `rename_content_types`: a content type `messaging` has already (made
    by `migrate`'s post_migrate while this app's were away, in an earlier round trip)
    is not renamed onto, which failed with a duplicate key; this app's stays."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    taken = set(
        ContentType.objects.filter(app_label="messaging", model__in=MODELS).values_list(
            "model", flat=True
        )
    )
    ContentType.objects.filter(app_label=APP, model__in=set(MODELS) - taken).update(
        app_label="messaging"
    )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('conversations', '0006_rate_limit_upper_bound'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('messaging', '0007_inbound_forward_pending'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables stay as they are; only Django's idea of which app owns them moves.
            state_operations=[
                migrations.CreateModel(
                    name='WebhookDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('delivering', 'Delivering'), ('delivered', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=16, verbose_name='status')),
                        ('next_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='next attempt')),
                        ('claimed_until', models.DateTimeField(blank=True, help_text='A worker owns the delivery until then; after that the sweeper takes it back.', null=True, verbose_name='claimed until')),
                        ('attempt_count', models.PositiveIntegerField(default=0, verbose_name='attempts')),
                        ('retry_step', models.PositiveSmallIntegerField(default=0, help_text='Position in the retry schedule; a replay restarts it.', verbose_name='retry step')),
                        ('replay_count', models.PositiveIntegerField(default=0, verbose_name='replays')),
                        ('last_http_status', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='last HTTP status')),
                        ('last_error', models.TextField(blank=True, default='', verbose_name='last error')),
                        ('delivered_at', models.DateTimeField(blank=True, null=True, verbose_name='delivered')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                        ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                        ('message', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_deliveries', to='messaging.message', verbose_name='message')),
                    ],
                    options={
                        'verbose_name': 'webhook delivery',
                        'verbose_name_plural': 'webhook deliveries',
                        'db_table': 'messaging_webhookdelivery',
                        'ordering': ['-id'],
                    },
                ),
                migrations.CreateModel(
                    name='WebhookAttempt',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('number', models.PositiveIntegerField(verbose_name='attempt')),
                        ('url', models.URLField(max_length=500, verbose_name='URL')),
                        ('started_at', models.DateTimeField(verbose_name='started')),
                        ('duration_ms', models.PositiveIntegerField(blank=True, null=True, verbose_name='duration (ms)')),
                        ('outcome', models.CharField(choices=[('in_flight', 'In flight'), ('success', 'Success'), ('failure', 'Failure'), ('refused', 'Refused (unsafe URL)')], default='in_flight', max_length=16, verbose_name='outcome')),
                        ('http_status', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='HTTP status')),
                        ('response_text', models.TextField(blank=True, default='', help_text='First 1 KB.', verbose_name='answer or error')),
                        ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempts', to='forwarding.webhookdelivery', verbose_name='delivery')),
                    ],
                    options={
                        'verbose_name': 'webhook attempt',
                        'verbose_name_plural': 'webhook attempts',
                        'db_table': 'messaging_webhookattempt',
                        'ordering': ['delivery', 'number'],
                    },
                ),
                migrations.CreateModel(
                    name='WebhookEndpoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('url', models.URLField(max_length=500, verbose_name='URL')),
                        ('is_primary', models.BooleanField(default=False, help_text="Mirrors the bot's webhook URL.", verbose_name='primary')),
                        ('msgtypes', models.JSONField(blank=True, default=list, help_text='Only these msgtypes, e.g. ["text", "image"]. Empty: every message.', verbose_name='message types')),
                        ('description', models.CharField(blank=True, default='', max_length=200, verbose_name='description')),
                        ('is_active', models.BooleanField(default=True, help_text='Off: no message is forwarded here, and none is queued.', verbose_name='active')),
                        ('disabled_at', models.DateTimeField(blank=True, help_text='Set when every delivery failed for 3 days; deliveries wait until re-enabled.', null=True, verbose_name='disabled')),
                        ('disabled_reason', models.CharField(blank=True, default='', max_length=300, verbose_name='disabled because')),
                        ('last_success_at', models.DateTimeField(blank=True, null=True, verbose_name='last success')),
                        ('last_failure_at', models.DateTimeField(blank=True, null=True, verbose_name='last failure')),
                        ('failing_since', models.DateTimeField(blank=True, help_text='First failure after the last success.', null=True, verbose_name='failing since')),
                        ('failure_streak', models.PositiveIntegerField(default=0, verbose_name='failures in a row')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                        ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                        ('bot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_endpoints', to='conversations.bot', verbose_name='bot')),
                    ],
                    options={
                        'verbose_name': 'webhook endpoint',
                        'verbose_name_plural': 'webhook endpoints',
                        'db_table': 'messaging_webhookendpoint',
                        'ordering': ['bot', '-is_primary', 'id'],
                    },
                ),
                migrations.AddField(
                    model_name='webhookdelivery',
                    name='endpoint',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='forwarding.webhookendpoint', verbose_name='endpoint'),
                ),
                migrations.AddConstraint(
                    model_name='webhookendpoint',
                    constraint=models.UniqueConstraint(condition=models.Q(('is_primary', True)), fields=('bot',), name='webhook_one_primary_per_bot'),
                ),
                migrations.AddIndex(
                    model_name='webhookdelivery',
                    index=models.Index(condition=models.Q(('status__in', ['pending', 'delivering'])), fields=['status', 'next_attempt_at'], name='webhook_delivery_due_idx'),
                ),
                migrations.AddIndex(
                    model_name='webhookdelivery',
                    index=models.Index(fields=['endpoint', 'status', 'created_at'], name='webhook_delivery_ep_idx'),
                ),
                migrations.AddConstraint(
                    model_name='webhookdelivery',
                    constraint=models.UniqueConstraint(fields=('message', 'endpoint'), name='webhook_delivery_once_per_endpoint'),
                ),
            ],
        ),
        migrations.RunPython(rename_content_types, restore_content_types),
    ]
