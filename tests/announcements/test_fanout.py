"""Fan-out: exactly one message per recipient, in batches, even when the worker is killed."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.db.models import Count

from announcements.fanout import fan_out
from announcements.models import Announcement, AnnouncementRun
from announcements.operator_actions import cancel
from announcements.scheduler import start_due_announcements
from conversations.models import Bot
from devtools.processes import database_url
from messaging.models import Message
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _fan_out_in_a_worker_process(run_id: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": "memory://",
        "BOTADMIN_ANNOUNCEMENT_BATCH_SIZE": "200",
        "DJANGO_SETTINGS_MODULE": "botadmin.settings",
    }
    code = (
        f"import django; django.setup();from announcements.fanout import fan_out;fan_out({run_id})"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)


@pytest.mark.django_db(transaction=True)
def test_fan_out_to_10000_killed_mid_way_and_rerun_creates_exactly_10000_messages(
    bot, make_groups, make_announcement
):
    groups = make_groups(bot, 10_000)
    make_announcement(bot, groups)
    (run_id,) = start_due_announcements()

    worker = _fan_out_in_a_worker_process(run_id)
    deadline = time.monotonic() + 120
    while AnnouncementRun.objects.get(pk=run_id).fanout_cursor < 2_000:
        assert worker.poll() is None, "the worker finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    run = AnnouncementRun.objects.get(pk=run_id)
    assert 2_000 <= run.fanout_cursor < 10_000, "killed mid-way"
    assert run.status == AnnouncementRun.Status.FANNING_OUT
    assert Message.objects.filter(announcement_run=run).count() == run.fanout_cursor

    fan_out(run_id)

    run.refresh_from_db()
    messages = Message.objects.filter(announcement_run=run)
    assert messages.count() == 10_000
    assert not messages.values("conversation").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert set(messages.values_list("conversation_id", flat=True)) == {g.pk for g in groups}
    assert run.status == AnnouncementRun.Status.SENDING
    assert run.fanned_out_at is not None


def test_a_fan_out_run_twice_adds_nothing(bot, make_groups, make_announcement):
    groups = make_groups(bot, 7)
    make_announcement(bot, groups)
    (run_id,) = start_due_announcements()

    fan_out(run_id, batch_size=3)
    AnnouncementRun.objects.filter(pk=run_id).update(
        status=AnnouncementRun.Status.FANNING_OUT, fanout_cursor=0, fanned_out_at=None
    )  # as if the cursor had been lost with a killed batch
    fan_out(run_id, batch_size=3)

    assert Message.objects.filter(announcement_run_id=run_id).count() == 7


def test_the_database_refuses_a_second_message_for_the_same_recipient_of_a_run(
    bot, group, make_announcement
):
    from django.db import IntegrityError, transaction

    make_announcement(bot, [group])
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    duplicate = Message.objects.get(announcement_run_id=run_id)
    duplicate.pk, duplicate.msgid = None, "f" * 32

    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_a_fan_out_for_a_switched_off_bot_pauses_instead_of_failing(
    bot, make_groups, make_announcement, superuser
):
    from announcements.models import Announcement
    from announcements.operator_actions import resume

    announcement = make_announcement(bot, make_groups(bot, 3))
    (run_id,) = start_due_announcements()
    bot.is_active = False
    bot.save()

    fan_out(run_id)

    announcement.refresh_from_db()
    assert announcement.status == Announcement.Status.PAUSED
    assert AnnouncementRun.objects.get(pk=run_id).status == AnnouncementRun.Status.PAUSED
    assert not Message.objects.filter(announcement_run_id=run_id).exists()

    bot.is_active = True
    bot.save()
    resume(superuser, announcement)
    fan_out(run_id)
    assert Message.objects.filter(announcement_run_id=run_id).count() == 3


def _waiting_for_a_row_lock() -> int:
    """Connections to the test database waiting for a lock (each query its own snapshot)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_fan_out_of_a_switched_off_bot_and_a_cancel_at_once_do_not_deadlock(
    bot, make_groups, make_announcement, superuser
):
    """Cancel locks the announcement, then its runs; a batch for a switched-off bot pauses
    the run and its announcement. Forced to start in between, the batch waits for the
    cancel instead of holding the run the cancel needs."""
    announcement = make_announcement(bot, make_groups(bot, 3))
    (run_id,) = start_due_announcements()
    Bot.objects.filter(pk=bot.pk).update(is_active=False)
    operator_holds_the_announcement, go_on = threading.Event(), threading.Event()
    errors = []

    def operator():
        try:
            with transaction.atomic():
                # Cancel's own first lock, taken a moment early so the batch starts between it
                # and the rest of the cancel.
                Announcement.objects.select_for_update().get(pk=announcement.pk)
                operator_holds_the_announcement.set()
                assert go_on.wait(30)
                cancel(superuser, announcement)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    def worker():
        try:
            assert operator_holds_the_announcement.wait(30)
            fan_out(run_id)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=operator), threading.Thread(target=worker)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: _waiting_for_a_row_lock() == 1, timeout=30), "the batch waits"
    go_on.set()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []  # PostgreSQL refuses one of two deadlocked transactions
    assert Announcement.objects.get(pk=announcement.pk).status == Announcement.Status.CANCELLED
    assert AnnouncementRun.objects.get(pk=run_id).status == AnnouncementRun.Status.CANCELLED
    assert not Message.objects.filter(announcement_run_id=run_id).exists()
