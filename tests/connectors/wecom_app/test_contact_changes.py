"""WeCom's own events ("sys": contact changes, batch job results) through the callback URL:
no conversation, nothing forwarded, and one contact sync soon for a burst of them."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conversations import sync, tasks
from conversations.models import Conversation, SyncRun
from messaging.models import Message
from tests.polling import wait_until

from .test_callback import _callback, post_encrypted

BURST = [
    "change_contact_create_user_wangwu",
    "change_contact_create_user_zhaoliu",
    "change_contact_delete_user_lisi",
    "batch_job_result_sync_user",
]


def listed_users(client, bot) -> list[str]:
    answer = client.get("/api/users", {"secret": bot.secret}).json()
    return sorted(u["conversation_id"] for u in answer["data"])


def test_events_from_sys_make_no_conversation_and_one_sync_for_a_burst(
    client, app_api, app_bot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as woken:
        for name in BURST + BURST:  # with WeCom's repeats
            assert post_encrypted(client, app_bot, _callback(name)).status_code == 200

    assert not Conversation.objects.filter(conversation_id="sys").exists()
    assert "sys" not in listed_users(client, app_bot)
    assert not Message.objects.exists()  # nothing to forward: no conversation's message
    (run,) = SyncRun.objects.filter(bot=app_bot)
    assert (run.trigger, run.outcome) == (SyncRun.Trigger.CONTACT_CHANGE, SyncRun.Outcome.PENDING)
    assert woken == []  # no worker per event: the beat hands the one run out


def test_the_beat_hands_the_sync_out_and_it_makes_the_contact_list_current(
    client, app_api, app_bot, member, django_capture_on_commit_callbacks
):
    app_api.add_user("wangwu", "王五")
    del app_api.users["lisi"]
    for name in ["change_contact_create_user_wangwu", "change_contact_delete_user_lisi"]:
        post_encrypted(client, app_bot, _callback(name))
    run = SyncRun.objects.get(bot=app_bot)

    with django_capture_on_commit_callbacks() as woken:
        sync.sync_due_bots(now=timezone.now())
    assert woken == []  # a moment later, more changes of the burst may still join it
    later = timezone.now() + sync.REENQUEUE_AFTER + timedelta(seconds=1)
    with django_capture_on_commit_callbacks() as woken:
        sync.sync_due_bots(now=later)
    assert len(woken) == 1
    tasks.run_sync(run.pk)  # what the woken worker does

    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCEEDED, run.error
    assert listed_users(client, app_bot) == ["wangwu", "zhangsan"]


@pytest.mark.django_db(transaction=True)
def test_a_change_while_a_sync_runs_is_followed_by_another_sync(client, app_api, app_bot):
    post_encrypted(client, app_bot, _callback("change_contact_create_user_wangwu"))
    first = SyncRun.objects.get(bot=app_bot)
    app_api.delay = (
        0.3  # WeCom answers slowly: the sync is still running when the next change comes
    )

    def worker():
        try:
            tasks.run_sync(first.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert wait_until(
            lambda: SyncRun.objects.filter(pk=first.pk, outcome=SyncRun.Outcome.RUNNING).exists()
        )
        post_encrypted(client, app_bot, _callback("change_contact_create_user_zhaoliu"))
        assert SyncRun.objects.filter(bot=app_bot).count() == 1  # noted on the running one
    finally:
        thread.join(timeout=30)

    runs = SyncRun.objects.filter(bot=app_bot).order_by("pk")
    assert [(r.outcome, r.trigger) for r in runs] == [
        (SyncRun.Outcome.SUCCEEDED, SyncRun.Trigger.CONTACT_CHANGE),
        (SyncRun.Outcome.PENDING, SyncRun.Trigger.CONTACT_CHANGE),
    ]
