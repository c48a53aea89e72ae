# Every run keeps how many recipients it planned (`recipient_total`), so that its page reads
# the number instead of loading the run's list of conversation ids (100,000 at 100,000
# recipients) to count it. Runs started before the column existed have it empty.

from django.db import migrations

from announcements.retention import JSONArrayLength
from botadmin.id_windows import id_windows

# Runs per window: one UPDATE each, its own transaction (the migration is not atomic).
# Small, since each run's list may hold 100,000 ids for the database to count.
BATCH_SIZE = 100


def fill_recipient_totals(apps, schema_editor):
    """Each empty total counted from the run's list by the database (no list is read into
    memory), a window of primary keys at a time. Idempotent: a filled total is kept."""
    AnnouncementRun = apps.get_model("announcements", "AnnouncementRun")
    for after, up_to in id_windows(AnnouncementRun, BATCH_SIZE):
        AnnouncementRun.objects.filter(
            pk__gt=after, pk__lte=up_to, recipient_total__isnull=True
        ).update(recipient_total=JSONArrayLength("recipient_ids"))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("announcements", "0012_announcement_submission"),
    ]

    operations = [
        # No reverse is needed: the previous release reads the total when it is set, and
        # the totals are what its runs' lists hold.
        migrations.RunPython(fill_recipient_totals, migrations.RunPython.noop),
    ]
