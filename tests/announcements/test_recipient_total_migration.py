"""announcements 0013 gives every run started before `recipient_total` existed its total,
counted from its list by the database, so that a run's page never loads the list (100,000
ids at 100,000 recipients) to count it. A total already set is kept.

Run on the test database with Django's MigrationExecutor: back to announcements 0012,
runs written with that state's models, then forward again."""

from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps as today
from django.utils import timezone

from announcements.models import AnnouncementRun
from tests.migration_states import migrate_app_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("announcements", "0012_announcement_submission")
FILL = import_module("announcements.migrations.0013_fill_recipient_total")
FAR_ID = 5_000


@pytest.fixture
def at_0012():
    yield migrate_app_to(BEFORE)
    migrate_to_latest()


def old_runs(apps, bot, lists_and_totals, first_pk=None) -> list[int]:
    """Runs of one announcement with these recipient lists and stored totals (their ids
    from `first_pk` on, when given)."""
    Announcement = apps.get_model("announcements", "Announcement")
    Run = apps.get_model("announcements", "AnnouncementRun")
    announcement = Announcement.objects.create(
        bot_id=bot.pk, title="通知", msgtype="text", body={}, status="finished"
    )
    start = timezone.now() - timedelta(days=30)
    return [
        Run.objects.create(
            pk=None if first_pk is None else first_pk + n,
            announcement=announcement,
            scheduled_for=start + timedelta(hours=n),
            started_at=start + timedelta(hours=n),
            status="sending",
            recipient_ids=ids,
            recipient_total=total,
            fanout_cursor=len(ids),
        ).pk
        for n, (ids, total) in enumerate(lists_and_totals)
    ]


def totals(pks: list[int]) -> list[int | None]:
    by_pk = dict(AnnouncementRun.objects.filter(pk__in=pks).values_list("pk", "recipient_total"))
    return [by_pk[pk] for pk in pks]


def test_runs_from_before_the_total_get_it_from_their_list_and_set_totals_stay(at_0012, bot):
    pks = old_runs(at_0012, bot, [([11, 12, 13], None), ([], None), ([21, 22], 5)])

    migrate_to_latest()

    assert totals(pks) == [3, 0, 5]
    assert AnnouncementRun.objects.get(pk=pks[0]).recipient_ids == [11, 12, 13]


def test_the_fill_works_in_windows_of_ids_and_leaves_the_runs_progress_time(
    bot, monkeypatch, django_assert_num_queries
):
    """A fan-out stalled since its `updated_at` is restarted by it
    (fanout.resume_stalled_fan_outs): counting a total is no progress. The windows start
    at the smallest id: ids far from 1 (runs deleted, a PostgreSQL sequence moved on) are
    no empty windows to read."""
    monkeypatch.setattr(FILL, "BATCH_SIZE", 2)
    lists = [(list(range(n)), None) for n in (1, 2, 3, 4, 5)]
    pks = old_runs(today, bot, lists, first_pk=FAR_ID)
    AnnouncementRun.objects.filter(pk=pks[1]).delete()  # a gap in the ids
    pks.remove(pks[1])
    updated = list(AnnouncementRun.objects.order_by("pk").values_list("updated_at", flat=True))

    # The first and the last id, then one UPDATE a window: ids 5,000 to 5,004 in three.
    with django_assert_num_queries(2 + 3):
        FILL.fill_recipient_totals(today, None)

    assert totals(pks) == [1, 3, 4, 5]
    assert list(AnnouncementRun.objects.order_by("pk").values_list("updated_at", flat=True)) == (
        updated
    )
