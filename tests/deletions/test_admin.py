"""The Django admin deletes bots and conversations through deletion jobs: a confirmation
with the counts, never Django's "protected objects" page or one long cascade."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from audit.models import OperatorAction
from botadmin.reasons import Reason
from conversations.models import Bot, Conversation
from deletions import services
from deletions.models import DeletionJob
from tests.deletions.running import run_deletions


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def test_deleting_a_bot_with_history_queues_a_job(admin_client, make_bot, make_history):
    bot = make_bot(name="old")
    make_history(bot)
    url = reverse("admin:conversations_bot_delete", args=[bot.pk])

    confirm = admin_client.get(url)
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "protected" not in html.lower()
    assert confirm.context["targets"][0]["rows"][0]["planned"] == 10  # its messages

    answer = admin_client.post(url, {"post": "yes"}, follow=True)
    job = DeletionJob.objects.get()
    assert (job.kind, job.target_id, job.requested_by_label) == ("bot", bot.pk, "root")
    said = [str(message) for message in answer.context["messages"]]
    assert len(said) == 1 and str(job.pk) in said[0] and "old" in said[0]
    assert not Bot.objects.get(pk=bot.pk).is_active  # deleted by the worker, not here


def test_delete_selected_bots_queues_one_job_each(admin_client, make_bot, make_history):
    bots = [make_bot(), make_bot()]
    make_history(bots[0])
    changelist = reverse("admin:conversations_bot_changelist")
    form = {"action": "delete_selected", "_selected_action": [b.pk for b in bots]}

    confirm = admin_client.post(changelist, form)
    assert confirm.status_code == 200 and not DeletionJob.objects.exists()
    assert len(confirm.context["targets"]) == 2

    admin_client.post(changelist, {**form, "post": "yes"})
    assert set(DeletionJob.objects.values_list("target_id", flat=True)) == {b.pk for b in bots}
    assert Bot.objects.filter(is_active=True).count() == 0


def test_deleting_conversations_queues_jobs(admin_client, make_bot, make_history):
    bot = make_bot()
    history = make_history(bot)
    one = history.conversations[0]
    admin_client.post(
        reverse("admin:conversations_conversation_delete", args=[one.pk]), {"post": "yes"}
    )
    admin_client.post(
        reverse("admin:conversations_conversation_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [c.pk for c in history.conversations],
            "post": "yes",
        },
    )

    jobs = DeletionJob.objects.filter(kind="conversation")
    assert sorted(jobs.values_list("target_id", flat=True)) == sorted(
        c.pk for c in history.conversations
    )
    assert Conversation.objects.filter(bot=bot).count() == 2  # until the worker runs
    assert Bot.objects.get(pk=bot.pk).is_active


def test_an_operator_without_the_delete_permission_cannot(client, make_operator, make_bot):
    bot = make_bot()
    user = make_operator("alice", bot)
    user.user_permissions.remove(*user.user_permissions.filter(codename="delete_bot"))
    client.force_login(user)

    assert (
        client.post(
            reverse("admin:conversations_bot_delete", args=[bot.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert not DeletionJob.objects.exists()


def _failed_job(bot, superuser) -> DeletionJob:
    job, _ = services.request_bot_deletion(bot, superuser, via="test")
    DeletionJob.objects.filter(pk=job.pk).update(
        status=DeletionJob.Status.FAILED,
        attempts=5,
        error=Reason(services.GAVE_UP, n=5, reason="OSError: No space left on device"),
    )
    return DeletionJob.objects.get(pk=job.pk)


def test_a_failed_job_says_why_and_can_be_tried_again(admin_client, make_bot, superuser):
    bot = make_bot(name="stuck")
    job = _failed_job(bot, superuser)
    page = admin_client.get(reverse("admin:deletions_deletionjob_change", args=[job.pk]))
    html = page.content.decode()
    assert "删除在失败 5 次后停止：OSError: No space left on device" in html
    retry_url = reverse("admin:deletions_deletionjob_retry", args=[job.pk])
    assert retry_url in html

    answer = admin_client.post(retry_url, follow=True)

    said = [str(message) for message in answer.context["messages"]]
    assert len(said) == 1 and "stuck" in said[0]
    job.refresh_from_db()
    assert job.status == DeletionJob.Status.QUEUED and job.attempts == 0
    run_deletions()
    assert not Bot.objects.filter(pk=bot.pk).exists()


def test_the_retry_action_takes_the_failed_jobs_it_may(client, make_operator, make_bot, superuser):
    mine, theirs = make_bot(), make_bot()
    user = make_operator("alice", mine)
    user.user_permissions.add(Permission.objects.get(codename="view_deletionjob"))
    client.force_login(user)
    failed_mine, failed_theirs = _failed_job(mine, superuser), _failed_job(theirs, superuser)
    changelist = reverse("admin:deletions_deletionjob_changelist")

    client.post(
        changelist,
        {"action": "retry_failed", "_selected_action": [failed_mine.pk, failed_theirs.pk]},
    )

    assert DeletionJob.objects.get(pk=failed_mine.pk).status == DeletionJob.Status.QUEUED
    assert DeletionJob.objects.get(pk=failed_theirs.pk).status == DeletionJob.Status.FAILED
    retried = OperatorAction.objects.get(action="deletion.retry")
    assert (retried.actor, retried.bot, retried.details["job"]) == (user, mine, failed_mine.pk)
    retry_theirs = reverse("admin:deletions_deletionjob_retry", args=[failed_theirs.pk])
    assert client.post(retry_theirs).status_code == 404  # not among the jobs they see
