"""Single messages scheduled through the API: released once when due, cancellable before."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import translation

from botadmin.reasons import Reason, translate
from messaging.models import Message
from messaging.scheduled import EARLIER_LATE, release_due_messages
from messaging.sending import accept_outbound
from messaging.tasks import release_scheduled_messages

T0 = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)


def schedule(bot, group, when):
    return accept_outbound(
        bot=bot,
        conversation_id=group.conversation_id,
        body={"msgtype": "text", "text": {"content": "later"}},
        source=Message.Source.API,
        send_at=when,
    )


def test_a_scheduled_message_is_released_once_when_due(bot, group):
    with time_machine.travel(T0, tick=False) as clock:
        message = schedule(bot, group, T0 + timedelta(minutes=5))
        assert message.status == Message.Status.SCHEDULED

        assert release_due_messages() == 0
        clock.shift(timedelta(minutes=5))
        assert release_due_messages() == 1
        assert release_due_messages() == 0

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.scheduled_at == T0 + timedelta(minutes=5)  # kept: lateness is measured from it


def test_messagings_own_beat_entry_releases_them_every_scheduler_interval(bot, group, settings):
    # Not the announcements' tick: /api/send's send_at works whatever announcements do.
    entries = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert entries["messaging.release_scheduled_messages"]["schedule"] == (
        settings.BOTADMIN_SCHEDULER_INTERVAL
    )
    with time_machine.travel(T0, tick=False) as clock:
        message = schedule(bot, group, T0 + timedelta(minutes=5))
        clock.shift(timedelta(minutes=5))

        assert release_scheduled_messages() == 1

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED


def test_api_messages_ignore_quiet_hours(bot, group):
    from datetime import time

    bot.quiet_hours_start, bot.quiet_hours_end = time(0, 0), time(23, 59)
    bot.save()
    with time_machine.travel(T0, tick=False) as clock:
        message = schedule(bot, group, T0 + timedelta(seconds=1))
        clock.shift(timedelta(seconds=1))
        release_due_messages()
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED


def test_a_cancel_via_the_api_stops_a_scheduled_message(client, bot, group):
    message = schedule(bot, group, datetime.now(UTC) + timedelta(hours=1))

    response = client.post(f"/api/messages/{message.msgid}/cancel?secret={bot.secret}")

    assert response.status_code == 200
    # Compact, as every answer (scripts grep '"errcode":0').
    assert response.content.decode() == (
        f'{{"errcode":0,"errmsg":"ok","msgid":"{message.msgid}","status":"cancelled"}}'
    )
    message.refresh_from_db()
    assert message.status == Message.Status.CANCELLED
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=2)):
        assert release_due_messages() == 0


def test_cancel_answers_in_the_errcode_envelope(client, bot, make_bot, group):
    message = schedule(bot, group, None)  # sent right away: queued
    other = make_bot(name="other")

    wrong_secret = client.post(f"/api/messages/{message.msgid}/cancel?secret=x" + "y" * 40)
    others_bot = client.post(f"/api/messages/{message.msgid}/cancel?secret={other.secret}")
    already_queued = client.post(f"/api/messages/{message.msgid}/cancel?secret={bot.secret}")

    assert (wrong_secret.status_code, wrong_secret.json()["errcode"]) == (401, 93000)
    assert (others_bot.status_code, others_bot.json()["errcode"]) == (404, 7000104)
    assert (already_queued.status_code, already_queued.json()["errcode"]) == (409, 7000105)
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_releases_never_release_a_message_twice(bot, group):
    import threading

    with time_machine.travel(T0, tick=False):
        for _ in range(300):
            schedule(bot, group, T0 + timedelta(seconds=1))
    counts = []

    def release():
        with time_machine.travel(T0 + timedelta(seconds=2), tick=False):
            counts.append(release_due_messages())
        connection.close()

    threads = [threading.Thread(target=release) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 300
    assert Message.objects.filter(status="queued").count() == 300


def test_a_message_found_long_after_its_time_fails_as_late_instead_of_being_sent(
    client, make_operator, bot, group
):
    """botadmin was stopped from 10:00 to 10:36: the 10:05 reminder is not sent at 10:36."""
    with time_machine.travel(T0, tick=False) as clock:
        message = schedule(bot, group, T0 + timedelta(minutes=5))
        clock.shift(timedelta(minutes=36))
        assert release_due_messages() == 0

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.last_error.startswith("late: ")
    answer = client.get(f"/api/messages/{message.msgid}", {"secret": bot.secret}).json()
    status = answer["message"]
    assert status["status"] == "failed" and status["last_error"].startswith("late: ")
    client.force_login(make_operator("alice", bot))
    # The API answers in English, as WeCom's; the console in the operator's language.
    assert "已过时：未发送" in client.get(reverse("console:audit")).content.decode()


def test_a_cut_off_of_one_minute_says_minute(bot, group, settings):
    settings.BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES = 1
    with time_machine.travel(T0, tick=False) as clock:
        message = schedule(bot, group, T0 + timedelta(minutes=5))
        clock.shift(timedelta(minutes=7))
        release_due_messages()

    message.refresh_from_db()
    assert message.last_error == (
        "late: not sent, because it was still waiting more than 1 minute after its "
        "scheduled time (BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES)"
    )
    with translation.override("zh-hans"):
        assert translate(message.last_error).startswith("已过时：未发送，因为超过预定时间 1 分钟")
        # What rows stored before the singular say, read back as stored.
        earlier = Reason(EARLIER_LATE, minutes=1)
        assert translate(earlier).startswith("已过时：未发送，因为超过预定时间 1 分钟")


def test_a_message_found_within_the_cut_off_is_still_sent(bot, group):
    with time_machine.travel(T0, tick=False) as clock:
        message = schedule(bot, group, T0 + timedelta(minutes=5))
        clock.shift(timedelta(minutes=34))
        assert release_due_messages() == 1
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED


def test_a_cut_off_of_zero_sends_however_late(bot, group, settings):
    settings.BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES = 0
    with time_machine.travel(T0, tick=False) as clock:
        schedule(bot, group, T0 + timedelta(minutes=5))
        clock.shift(timedelta(days=1))
        assert release_due_messages() == 1
