"""Deleting a conversation in the console: from its page, a confirmation of what goes, then
the job's progress; for the bot admins of its bot, audited like a bot's deletion. A failed
deletion says why on its page, and may be tried again there."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from conversations.models import Bot, Conversation
from deletions import services
from deletions.models import DeletionJob
from messaging.models import Message, MessageMedia
from tests.deletions.running import run_deletions


def _delete_url(conversation) -> str:
    return reverse("console:conversation_delete", args=[conversation.bot_id, conversation.pk])


def test_a_bot_admin_deletes_a_conversation_from_its_page(
    operator_client, operator, bot, group, make_conversation, make_message
):
    kept = make_conversation(bot, "wrKept", name="留下的群")
    make_message(kept)
    for n in range(3):
        inbound = make_message(group, text=f"图 {n}")
        MessageMedia.objects.create(message=inbound, cdn=f"c{n}")
    make_message(group, direction="out")
    history = operator_client.get(reverse("console:history", args=[bot.pk, group.pk]))
    assert _delete_url(group) in history.content.decode()

    confirm = operator_client.get(_delete_url(group))
    html = confirm.content.decode()
    rows = {row["label"]: row["planned"] for row in confirm.context["rows"]}
    assert rows["messaging.Message"] == 4 and rows["messaging.MessageMedia"] == 3
    assert (
        "这些消息中的图片和文件" in html
        and "删除 销售群 会把它连同全部历史从 acme 中永久移除" in html
    )
    assert not DeletionJob.objects.exists()

    answer = operator_client.post(_delete_url(group))
    job = DeletionJob.objects.get()
    assert answer["Location"] == reverse("console:deletion", args=[job.pk])
    assert (job.kind, job.target_id, job.requested_by) == ("conversation", group.pk, operator)
    request = OperatorAction.objects.get(action="conversation.delete_request")
    assert request.actor == operator and request.details["via"] == "console"
    assert Bot.objects.get(pk=bot.pk).is_active  # the bot goes on
    # Asking again leads to the job under way.
    assert operator_client.get(_delete_url(group))["Location"] == answer["Location"]

    run_deletions()

    progress = operator_client.get(answer["Location"])
    assert progress.status_code == 200
    assert reverse("console:conversations", args=[bot.pk]) in progress.content.decode()
    assert not Conversation.objects.filter(pk=group.pk).exists()
    assert not Message.objects.filter(conversation_id=group.pk).exists()
    assert Message.objects.filter(conversation=kept).count() == 1
    done = OperatorAction.objects.get(action="conversation.delete")
    assert done.actor == operator and done.details["deleted"]["messaging.Message"] == 4


def test_an_operator_who_is_not_a_bot_admin_sees_what_would_go_and_who_may(
    client, make_operator, bot, group
):
    user = make_operator("reader", bot)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    boss = make_operator("boss", bot)
    assert boss.has_perm("conversations.administer_bot")
    client.force_login(user)

    confirm = client.get(_delete_url(group))
    html = confirm.content.decode()
    assert confirm.status_code == 200 and 'id="confirm-deletion"' not in html
    assert "只有机器人管理员可以删除会话：boss。" in html
    assert client.post(_delete_url(group)).status_code == 403
    assert not DeletionJob.objects.exists()


def test_the_operator_of_another_bot_gets_not_found(
    client, make_operator, other_bot, other_group, group, superuser
):
    client.force_login(make_operator("bob", other_bot))
    job, _ = services.request_conversation_deletion(group, superuser, via="test")

    assert client.get(_delete_url(group)).status_code == 404
    assert client.post(_delete_url(group)).status_code == 404
    assert client.get(reverse("console:deletion", args=[job.pk])).status_code == 404
    assert client.post(reverse("console:deletion_retry", args=[job.pk])).status_code == 404
    # A conversation of their own bot, under another bot's id, is not found either.
    wrong = reverse("console:conversation_delete", args=[group.bot_id, other_group.pk])
    assert client.get(wrong).status_code == 404
    assert DeletionJob.objects.count() == 1


def test_a_failed_deletion_says_why_and_a_bot_admin_tries_it_again(
    client, operator, make_operator, bot, group, superuser
):
    job, _ = services.request_conversation_deletion(group, superuser, via="test")
    DeletionJob.objects.filter(pk=job.pk).update(
        status=DeletionJob.Status.FAILED,
        attempts=5,
        error="the deletion stopped after 5 failed attempts: OSError: disk full",
    )
    page_url = reverse("console:deletion", args=[job.pk])
    reader = make_operator("reader", bot)
    reader.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(reader)
    html = client.get(page_url).content.decode()
    assert "OSError: disk full" in html and 'id="retry-deletion"' not in html
    assert client.post(reverse("console:deletion_retry", args=[job.pk])).status_code == 403

    client.force_login(operator)
    html = client.get(page_url).content.decode()
    assert 'id="retry-deletion"' in html
    answer = client.post(reverse("console:deletion_retry", args=[job.pk]), follow=True)

    assert answer.redirect_chain[-1][0] == page_url
    assert [str(m) for m in answer.context["messages"]] == ["已重新开始删除。"]
    job.refresh_from_db()
    assert job.status == DeletionJob.Status.QUEUED and job.error == ""
    assert OperatorAction.objects.filter(action="deletion.retry").count() == 1
    run_deletions()
    assert not Conversation.objects.filter(pk=group.pk).exists()


def test_a_waiting_attempt_is_shown_with_its_time(operator_client, bot, group, superuser):
    job, _ = services.request_conversation_deletion(group, superuser, via="test")
    DeletionJob.objects.filter(pk=job.pk).update(  # its first run failed a moment ago
        attempts=1,
        error="OperationalError: database is locked",
        next_attempt_at=timezone.now() + timedelta(minutes=1),
    )

    html = operator_client.get(reverse("console:deletion", args=[job.pk])).content.decode()

    assert "第 1 次尝试失败：OperationalError: database is locked。将于" in html
    assert 'data-active="1"' in html
