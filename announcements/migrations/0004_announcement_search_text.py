# The console's announcement list searches the words of each announcement's message
# as well as its title; existing announcements get theirs from their body.

from django.db import migrations, models

from messaging.validation import search_text


def fill_search_text(apps, schema_editor):
    Announcement = apps.get_model("announcements", "Announcement")
    for announcement in Announcement.objects.only("pk", "body").iterator(chunk_size=500):
        words = search_text(announcement.body)
        if words:
            Announcement.objects.filter(pk=announcement.pk).update(search_text=words)


class Migration(migrations.Migration):

    dependencies = [
        ('announcements', '0003_audience_rules'),
    ]

    operations = [
        migrations.AddField(
            model_name='announcement',
            name='search_text',
            field=models.TextField(blank=True, default='', help_text='Content, title and description.', verbose_name='searchable text'),
        ),
        migrations.RunPython(fill_search_text, migrations.RunPython.noop),
    ]
