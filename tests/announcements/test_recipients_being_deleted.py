"""A conversation whose deletion was asked for is no announcement's recipient: /api/send
refuses it (7000106), and so does an announcement. A run that planned it before makes no
message for it and counts it as skipped, saying why."""

from announcements import scheduler
from announcements.audience import count_now, recipients_now
from announcements.fanout import fan_out
from announcements.models import Announcement
from announcements.progress import runs_progress
from deletions.services import request_conversation_deletion
from messaging.models import Message

LIST = "/console/announcements/"


def test_a_run_that_planned_a_conversation_now_being_deleted_makes_no_message_for_it(
    client, superuser, bot, make_groups, make_announcement
):
    groups = make_groups(bot, 3)
    announcement = make_announcement(bot, groups)
    (run_id,) = scheduler.start_due_announcements()  # the recipients are fixed here
    request_conversation_deletion(groups[1], superuser, via="test")  # its job not run yet

    fan_out(run_id)

    messages = Message.objects.filter(announcement_run_id=run_id)
    assert set(messages.values_list("conversation_id", flat=True)) == {
        groups[0].pk,
        groups[2].pk,
    }
    run = announcement.runs.get()
    progress = runs_progress([run])[run.pk]
    assert (progress["planned"], progress["pending"], progress["skipped"]) == (3, 2, 1)
    assert progress["sent"] + progress["failed"] + progress["cancelled"] == 0
    client.force_login(superuser)
    run_page = client.get(f"{LIST}{announcement.pk}/?partial=runs").content.decode()
    assert 'title="其会话在生成消息之前已被删除或正在删除。">1 已跳过</span>' in run_page
    assert "2 待发送，共 3" in run_page


def test_a_run_starting_after_the_request_leaves_the_conversation_out(
    superuser, bot, make_groups, make_announcement, django_capture_on_commit_callbacks
):
    groups = make_groups(bot, 3)
    listed = make_announcement(bot, groups, title="listed")
    for_everyone = make_announcement(bot, groups[:1], title="everyone")
    for_everyone.audience = Announcement.Audience.EVERYONE  # a rule: all groups and users
    for_everyone.save(update_fields=["audience"])
    assert count_now(for_everyone) == 3

    with django_capture_on_commit_callbacks(execute=True):  # counted again once committed
        request_conversation_deletion(groups[1], superuser, via="test")

    kept = {groups[0].pk, groups[2].pk}
    assert set(recipients_now(listed).values_list("pk", flat=True)) == kept
    assert set(recipients_now(for_everyone).values_list("pk", flat=True)) == kept
    assert count_now(for_everyone) == 2  # the compose page's count, from the cache
    runs = scheduler.start_due_announcements()
    for run_id in runs:
        fan_out(run_id)
    for announcement in (listed, for_everyone):
        run = announcement.runs.get()
        assert (run.recipient_total, set(run.recipient_ids)) == (2, kept)
        progress = runs_progress([run])[run.pk]
        assert (progress["planned"], progress["pending"], progress["skipped"]) == (2, 2, 0)
    assert not Message.objects.filter(conversation=groups[1]).exists()
