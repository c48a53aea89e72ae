"""A fan-out that cannot go on ends its run with the reason, and never loops.

Given a bridge bot whose agent (a real server on 127.0.0.1) stopped announcing
images, a daily image announcement's run fails with the refusal, shown on the
run page and the list; the announcement keeps its schedule, can be edited, and
its next occurrence is tried. A fan-out that keeps failing for another reason
(the database refusing its messages) is restarted less and less often, then
failed with that error, logged once.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import DatabaseError, connection

from announcements import operator_actions, scheduler
from announcements.fanout import fan_out, fan_out_batch, resume_stalled_fan_outs
from announcements.models import Announcement, AnnouncementRun
from announcements.progress import runs_progress
from connectors.demo_agent import DemoAgent
from conversations.demo import DEMO_GROUPS
from conversations.models import Bot
from conversations.services import refresh_connector_state
from messaging.models import Message
from tests.connectors.conftest import agent, bridge_bot  # noqa: F401  (the fake agent)

T0 = datetime(2026, 5, 4, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
IMAGE = {"msgtype": "image", "image": {"url": "https://example.com/poster.png"}}
DAILY = {"time": "09:00"}  # 01:00 UTC


@dataclass
class Poster:
    """A daily image announcement to two groups of a bridge bot, and the bot's agent."""

    announcement: Announcement
    bot: Bot
    agent: DemoAgent

    def agent_announces(self, *msgtypes: str) -> None:
        """The agent changes what it sends; botadmin learns it at its next check."""
        self.agent.msgtypes = msgtypes
        refresh_connector_state(self.bot)


@pytest.fixture
def poster(bridge_bot, agent, make_conversation, make_announcement):  # noqa: F811
    groups = [make_conversation(bridge_bot, g["conversation_id"]) for g in DEMO_GROUPS[:2]]
    poster = Poster(None, bridge_bot, agent)
    poster.agent_announces("text", "image")
    with time_machine.travel(T0, tick=False):
        poster.announcement = make_announcement(
            bridge_bot, groups, kind="daily", schedule=DAILY, body=IMAGE, title="Poster"
        )
    return poster


def start_and_fan_out(when: datetime) -> AnnouncementRun:
    with time_machine.travel(when, tick=False):
        (run_id,) = scheduler.start_due_announcements()
        fan_out(run_id)
    return AnnouncementRun.objects.get(pk=run_id)


def test_a_run_whose_body_the_bot_no_longer_sends_fails_with_the_reason(poster):
    poster.agent_announces("text")

    run = start_and_fan_out(T0 + timedelta(hours=1))

    assert run.status == AnnouncementRun.Status.FAILED
    assert run.last_error.startswith("this bot cannot send the message: 40008: ")
    assert "image" in run.last_error
    assert not Message.objects.filter(announcement_run=run).exists()
    progress = runs_progress([run])[run.pk]
    assert (progress["failed"], progress["pending"], progress["done"]) == (2, 0, True)
    announcement = Announcement.objects.get()
    assert announcement.status == Announcement.Status.ACTIVE
    assert announcement.is_editable, "the operator can change what it sends"
    assert announcement.next_run_at == T0 + timedelta(days=1, hours=1)
    # Nothing is left for the scheduler to restart, however long it waits.
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        assert resume_stalled_fan_outs() == []


def test_the_next_occurrence_is_tried_and_goes_out_when_the_agent_sends_images_again(poster):
    poster.agent_announces("text")
    failed = start_and_fan_out(T0 + timedelta(hours=1))

    poster.agent_announces("text", "image")
    next_day = start_and_fan_out(T0 + timedelta(days=1, hours=1))

    assert AnnouncementRun.objects.get(pk=failed.pk).status == AnnouncementRun.Status.FAILED
    assert next_day.status == AnnouncementRun.Status.SENDING
    assert Message.objects.filter(announcement_run=next_day, msgtype="image").count() == 2


def test_retrying_a_failed_run_makes_its_messages_once_the_bot_can_send_them(poster, superuser):
    poster.agent_announces("text")
    run = start_and_fan_out(T0 + timedelta(hours=1))
    poster.agent_announces("text", "image")

    assert operator_actions.retry_failed(superuser, run) == 2
    run.refresh_from_db()
    assert (run.status, run.last_error) == (AnnouncementRun.Status.FANNING_OUT, "")
    fan_out(run.pk)

    run.refresh_from_db()
    assert run.status == AnnouncementRun.Status.SENDING
    assert Message.objects.filter(announcement_run=run).count() == 2
    assert runs_progress([run])[run.pk]["failed"] == 0


def test_retrying_a_failed_run_of_a_paused_announcement_holds_it_until_resumed(poster, superuser):
    poster.agent_announces("text")
    run = start_and_fan_out(T0 + timedelta(hours=1))
    operator_actions.pause(superuser, poster.announcement)
    poster.agent_announces("text", "image")

    operator_actions.retry_failed(superuser, run)
    fan_out(run.pk)

    run.refresh_from_db()
    assert run.status == AnnouncementRun.Status.PAUSED
    assert not Message.objects.filter(announcement_run=run).exists()
    operator_actions.resume(superuser, poster.announcement)
    fan_out(run.pk)
    assert Message.objects.filter(announcement_run=run).count() == 2


@pytest.mark.parametrize(
    ("language", "badge", "reason"),
    [
        ("en", "Failed", "This bot cannot send the message: 40008: "),
        ("zh-hans", "失败", "此机器人无法发送该消息：40008: "),
    ],
)
def test_the_run_page_and_the_list_say_why_the_run_failed(
    poster, client, superuser, language, badge, reason
):
    poster.agent_announces("text")
    run = start_and_fan_out(T0 + timedelta(hours=1))
    client.force_login(superuser)
    client.cookies["django_language"] = language

    pk = poster.announcement.pk
    detail = client.get(f"/console/announcements/{pk}/").content.decode()
    listing = client.get("/console/announcements/").content.decode()

    for page in (detail, listing):
        assert f'<span class="badge run-failed">{badge}</span>' in page
        (shown,) = re.findall(r'class="error-text small run-error">([^<]*)<', page)
        assert shown.startswith(reason) and "image" in shown
    assert f'name="run" value="{run.pk}"' in detail, "its recipients can be retried"
    assert f'href="/console/announcements/{pk}/edit/"' in detail, "and it can be edited"


# --- A fan-out that keeps failing for another reason ----------------------------------


def refuse_messages(why: str = "message refused by the test"):
    """The database refuses every new announcement message, as a full disk would: none of
    our code is replaced (tests/db_faults.py does the same for audit entries)."""
    assert "'" not in why
    table = connection.ops.quote_name(Message._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TRIGGER test_refuse_message BEFORE INSERT ON {table} "
                "WHEN NEW.source = 'announcement' "
                f"BEGIN SELECT RAISE(ABORT, '{why}'); END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION test_refuse_message() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN RAISE EXCEPTION '{why}'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER test_refuse_message BEFORE INSERT ON {table} FOR EACH ROW "
                "WHEN (NEW.source = 'announcement') EXECUTE FUNCTION test_refuse_message()"
            )


def test_a_fan_out_that_keeps_failing_is_restarted_less_often_then_failed_and_logged_once(
    bot, make_groups, make_announcement, caplog, settings
):
    settings.BOTADMIN_ANNOUNCEMENT_STALL_SECONDS = 60
    with time_machine.travel(T0, tick=False):
        make_announcement(bot, make_groups(bot, 2))
        (run_id,) = scheduler.start_due_announcements()
    refuse_messages()
    restarted_at = []
    caplog.set_level(logging.WARNING, logger="announcements")

    with time_machine.travel(T0, tick=False) as clock:
        with pytest.raises(DatabaseError):
            fan_out(run_id)
        for second in range(0, 3 * 3600, 10):  # the scheduler's ticks, every 10 s
            clock.move_to(T0 + timedelta(seconds=second))
            for pk in resume_stalled_fan_outs():
                restarted_at.append(second)
                with pytest.raises(DatabaseError):
                    fan_out(pk)

    # 1, 2, 4, 8 and 16 minutes (and up to a tick) apart, each after the one before; then
    # no more.
    gaps = [b - a for a, b in zip([0, *restarted_at], restarted_at, strict=False)]
    assert [gap // 60 for gap in gaps] == [1, 2, 4, 8, 16], gaps
    run = AnnouncementRun.objects.get(pk=run_id)
    assert run.status == AnnouncementRun.Status.FAILED
    assert run.last_error.startswith("no progress after 5 restarts: ")
    assert "message refused by the test" in run.last_error
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1 and "message refused by the test" in failures[0].getMessage()
    assert Announcement.objects.get().status == Announcement.Status.FINISHED  # a one-off


def test_a_fan_out_that_moves_on_is_not_counted_as_stalled(bot, make_groups, make_announcement):
    with time_machine.travel(T0, tick=False) as clock:
        make_announcement(bot, make_groups(bot, 4))
        (run_id,) = scheduler.start_due_announcements()
        clock.move_to(T0 + timedelta(minutes=2))
        assert resume_stalled_fan_outs() == [run_id]  # its worker died
        AnnouncementRun.objects.filter(pk=run_id).update(restarts=4)
        assert fan_out_batch(run_id, 2)  # a batch commits: progress

    run = AnnouncementRun.objects.get(pk=run_id)
    assert (run.restarts, run.fanout_cursor) == (0, 2)


def test_a_secret_in_a_fan_out_s_error_is_masked_before_the_console_shows_it(
    bot, make_groups, make_announcement
):
    with time_machine.travel(T0, tick=False):
        make_announcement(bot, make_groups(bot, 2))
        (run_id,) = scheduler.start_due_announcements()
    refuse_messages("cannot reach https://hooks.example.com/send?key=s3cr3t-hook-key")

    with time_machine.travel(T0, tick=False), pytest.raises(DatabaseError):
        fan_out(run_id)

    error = AnnouncementRun.objects.get(pk=run_id).last_error
    assert "https://hooks.example.com/send?key=" in error
    assert "s3cr3t-hook-key" not in error
