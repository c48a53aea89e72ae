# Cancelling or pausing a recurring announcement used to relabel every run still
# marked "sending", including the runs whose messages had all finished long before:
# a cancelled announcement listed every past run as cancelled. Those runs go back to
# "sending", which with nothing pending reads as finished (announcements.progress
# runs_progress); what cancel and pause stop is decided per run since.

from django.db import migrations
from django.db.models import Exists, OuterRef

UNFINISHED_MESSAGES = ["scheduled", "queued", "sending"]


def unstop_finished_runs(apps, schema_editor):
    """Runs handed out entirely, with no message left to send: a cancelled one that
    cancelled none of its messages, and a paused one (it holds nothing).

    Not undone by migrating back (RunPython.noop): which of these runs were labelled
    cancelled or paused is not kept."""
    AnnouncementRun = apps.get_model("announcements", "AnnouncementRun")
    Message = apps.get_model("messaging", "Message")
    messages = Message.objects.filter(announcement_run=OuterRef("pk"))
    finished = AnnouncementRun.objects.filter(fanned_out_at__isnull=False).exclude(
        Exists(messages.filter(status__in=UNFINISHED_MESSAGES))
    )
    finished.filter(status="paused").update(status="sending")
    finished.filter(status="cancelled").exclude(
        Exists(messages.filter(status="cancelled"))
    ).update(status="sending")


class Migration(migrations.Migration):

    dependencies = [
        ("announcements", "0004_announcement_search_text"),
        ("messaging", "0021_card_task_id"),
    ]

    operations = [
        migrations.RunPython(unstop_finished_runs, migrations.RunPython.noop),
    ]
