# The console's announcement list searches the words of each announcement's message
# as well as its title; existing announcements get theirs from their body.

from django.db import migrations, models

from messaging.validation import search_text


# Rows read and written per round: one SELECT and at most one UPDATE each.
BATCH_SIZE = 500


def fill_search_text(apps, schema_editor):
    """Each announcement's words, a batch at a time: pages by primary key (no cursor stays
    open while the table is written, which SQLite does not isolate), and only the rows
    whose words differ are written, so a run on a table already filled writes nothing."""
    Announcement = apps.get_model("announcements", "Announcement")
    rows = Announcement.objects.only("pk", "body", "search_text").order_by("pk")
    last_pk = None
    while True:
        page = list((rows if last_pk is None else rows.filter(pk__gt=last_pk))[:BATCH_SIZE])
        if not page:
            return
        last_pk = page[-1].pk
        changed = []
        for announcement in page:
            words = search_text(announcement.body)
            if words != announcement.search_text:
                announcement.search_text = words
                changed.append(announcement)
        if changed:
            Announcement.objects.bulk_update(changed, ["search_text"], batch_size=BATCH_SIZE)


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
