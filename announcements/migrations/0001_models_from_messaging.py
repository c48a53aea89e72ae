"""The announcements models, moved from the messaging app with their tables (`db_table`) unchanged."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


APP = "announcements"
MODELS = ['savedaudience', 'announcement', 'announcementrun']


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
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('contenttypes', '0002_remove_content_type_name'),
        ('messaging', '0007_inbound_forward_pending'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables stay as they are; only Django's idea of which app owns them moves.
            state_operations=[
                migrations.CreateModel(
                    name='SavedAudience',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, verbose_name='name')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                        ('bot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='saved_audiences', to='conversations.bot', verbose_name='bot')),
                        ('conversations', models.ManyToManyField(related_name='+', to='conversations.conversation', verbose_name='conversations')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by')),
                    ],
                    options={
                        'verbose_name': 'saved audience',
                        'verbose_name_plural': 'saved audiences',
                        'db_table': 'messaging_savedaudience',
                        'ordering': ['bot', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='Announcement',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('title', models.CharField(max_length=200, verbose_name='title')),
                        ('msgtype', models.CharField(max_length=32, verbose_name='message type')),
                        ('body', models.JSONField(help_text='The normalised message body.', verbose_name='body')),
                        ('schedule_kind', models.CharField(choices=[('now', 'Now'), ('once', 'At a date and time'), ('daily', 'Every day'), ('weekdays', 'Every weekday (Mon–Fri)'), ('weekly', 'Weekly on chosen days'), ('monthly', 'Monthly on a day'), ('cron', 'Cron expression')], default='now', max_length=16, verbose_name='when')),
                        ('schedule', models.JSONField(blank=True, default=dict, help_text='at / time / weekdays / month_day / cron / until, in the time zone.', verbose_name='schedule')),
                        ('timezone', models.CharField(default='Asia/Shanghai', max_length=64, verbose_name='time zone')),
                        ('status', models.CharField(choices=[('draft', 'Draft'), ('active', 'Scheduled'), ('paused', 'Paused'), ('finished', 'Finished'), ('cancelled', 'Cancelled')], default='draft', max_length=16, verbose_name='status')),
                        ('next_run_at', models.DateTimeField(blank=True, null=True, verbose_name='next run')),
                        ('last_run_at', models.DateTimeField(blank=True, null=True, verbose_name='last run')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                        ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                        ('bot', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='announcements', to='conversations.bot', verbose_name='bot')),
                        ('conversations', models.ManyToManyField(blank=True, related_name='+', to='conversations.conversation', verbose_name='audience')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by')),
                        ('saved_audience', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='announcements.savedaudience', verbose_name='saved audience')),
                    ],
                    options={
                        'verbose_name': 'announcement',
                        'verbose_name_plural': 'announcements',
                        'db_table': 'messaging_announcement',
                        'ordering': ['-id'],
                    },
                ),
                migrations.CreateModel(
                    name='AnnouncementRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('scheduled_for', models.DateTimeField(verbose_name='scheduled for')),
                        ('started_at', models.DateTimeField(verbose_name='started')),
                        ('is_late', models.BooleanField(default=False, help_text='Started well after its time, e.g. after downtime.', verbose_name='late')),
                        ('status', models.CharField(choices=[('fanning_out', 'Preparing'), ('sending', 'Sending'), ('paused', 'Paused'), ('cancelled', 'Cancelled')], default='fanning_out', max_length=16, verbose_name='status')),
                        ('recipient_ids', models.JSONField(default=list, help_text='Conversation ids, fixed when the run starts.', verbose_name='recipients')),
                        ('fanout_cursor', models.PositiveIntegerField(default=0, help_text='How many recipients have their message.', verbose_name='recipients done')),
                        ('fanned_out_at', models.DateTimeField(blank=True, null=True, verbose_name='all messages created')),
                        ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated')),
                        ('announcement', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='runs', to='announcements.announcement', verbose_name='announcement')),
                    ],
                    options={
                        'verbose_name': 'announcement run',
                        'verbose_name_plural': 'announcement runs',
                        'db_table': 'messaging_announcementrun',
                        'ordering': ['-scheduled_for'],
                        'constraints': [models.UniqueConstraint(fields=('announcement', 'scheduled_for'), name='announcement_run_once')],
                    },
                ),
                migrations.AddConstraint(
                    model_name='savedaudience',
                    constraint=models.UniqueConstraint(fields=('bot', 'name'), name='saved_audience_unique_name'),
                ),
                migrations.AddIndex(
                    model_name='announcement',
                    index=models.Index(condition=models.Q(('status', 'active')), fields=['next_run_at'], name='announcement_due_idx'),
                ),
            ],
        ),
        migrations.RunPython(rename_content_types, restore_content_types),
    ]
