"""A conversation switched off after a run took it among its recipients (a contact sync no
longer sees it) gets no announcement: its message is cancelled, saying why, on the run's
page of recipients; the run's others go as planned."""

from django.utils import timezone

from announcements import scheduler
from announcements.fanout import fan_out
from announcements.progress import runs_progress
from conversations.models import Conversation
from messaging.delivery import deliver
from messaging.delivery_claim import claim_due_messages
from messaging.delivery_send import send_and_record
from messaging.models import Message

LIST = "/console/announcements/"
WHY = "未发送：这次运行开始后，其会话已停用（例如联系人同步不再看到它）"


def switch_off(conversation) -> None:
    """What a contact sync does to a conversation it no longer sees."""
    Conversation.objects.filter(pk=conversation.pk).update(is_active=False)


def test_a_conversation_switched_off_before_its_message_went_out_is_skipped_saying_why(
    client, superuser, bot, make_groups, make_announcement
):
    groups = make_groups(bot, 2)
    announcement = make_announcement(bot, groups)
    (run_id,) = scheduler.start_due_announcements()
    fan_out(run_id)
    switch_off(groups[1])
    message = Message.objects.get(announcement_run_id=run_id, conversation=groups[1])

    assert deliver(message.pk).result == "cancelled"

    message.refresh_from_db()
    assert message.status == Message.Status.CANCELLED
    assert message.attempt_count == 0 and not message.attempts.exists()
    other = Message.objects.get(announcement_run_id=run_id, conversation=groups[0])
    assert other.status == Message.Status.QUEUED
    run = announcement.runs.get()
    assert runs_progress([run])[run.pk]["cancelled"] == 1
    client.force_login(superuser)
    page = client.get(f"{LIST}{announcement.pk}/?run={run_id}").content.decode()
    assert WHY in page


def test_a_claimed_message_whose_conversation_is_switched_off_meanwhile_is_not_sent(
    bot, make_groups, make_announcement
):
    groups = make_groups(bot, 1)
    make_announcement(bot, groups)
    (run_id,) = scheduler.start_due_announcements()
    fan_out(run_id)
    claimed = claim_due_messages()
    assert len(claimed) == 1  # waiting in the worker's batch behind slow sends
    switch_off(groups[0])

    assert send_and_record(claimed, timezone.now) == ["cancelled"]

    message = Message.objects.get(announcement_run_id=run_id)
    assert message.status == Message.Status.CANCELLED
    assert "switched off after the run started" in message.last_error
