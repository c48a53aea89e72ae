# Each announcement keeps its creator's name, for when the user is deleted.

from django.db import migrations

from botadmin.creator_labels import filler


class Migration(migrations.Migration):
    # Batched: each window of 1,000 ids commits on its own (CONTRIBUTING.md, Migrations).
    atomic = False

    dependencies = [
        ("announcements", "0008_announcement_created_by_label"),
    ]

    operations = [
        # No reverse is needed: the previous release does not read the column.
        migrations.RunPython(filler("announcements", "Announcement"), migrations.RunPython.noop),
    ]
