"""Contact sync in the admin: Sync now, the bulk action, the runs, live progress."""

import pytest
from django.urls import reverse

from audit.models import OperatorAction
from conversations import sync
from conversations.models import SyncRun
from tests.db_faults import fails_midway


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def sync_url(bot):
    return reverse("admin:conversations_bot_sync_contacts", args=[bot.pk])


def test_sync_now_starts_one_run_wakes_a_worker_and_is_audited(
    admin_client, bot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(sync_url(bot))
    assert response.status_code == 302 and response["Location"].endswith("#sync")
    run = bot.sync_runs.get()
    assert run.outcome == SyncRun.Outcome.PENDING and run.trigger == SyncRun.Trigger.ADMIN
    assert len(callbacks) == 1  # the task is enqueued once the run is committed
    action = OperatorAction.objects.get(action="contacts.sync")
    assert action.bot == bot and action.target_id == str(run.pk)


def test_a_second_sync_now_joins_the_running_sync(admin_client, bot):
    admin_client.post(sync_url(bot))
    response = admin_client.post(sync_url(bot), follow=True)
    assert bot.sync_runs.count() == 1
    assert "已在进行中" in response.content.decode()


def test_sync_now_needs_a_post(admin_client, bot):
    assert admin_client.get(sync_url(bot)).status_code == 405
    assert not bot.sync_runs.exists()


def test_operators_cannot_sync_bots_they_do_not_run(client, bot, make_bot, make_operator):
    other = make_bot(name="other")
    client.force_login(make_operator("alice", other))
    assert client.post(sync_url(bot)).status_code == 404
    status = reverse("admin:conversations_bot_sync_status", args=[bot.pk])
    assert client.get(status).status_code == 404
    assert not bot.sync_runs.exists()


def test_the_bulk_action_syncs_every_selected_bot(admin_client, make_bot):
    bots = [make_bot(), make_bot(), make_bot()]
    sync.request_sync(bots[0], SyncRun.Trigger.PERIODIC, enqueue=False)  # already running
    response = admin_client.post(
        reverse("admin:conversations_bot_changelist"),
        {"action": "sync_contacts", "_selected_action": [b.pk for b in bots]},
        follow=True,
    )
    assert response.status_code == 200
    assert SyncRun.objects.count() == 3
    assert OperatorAction.objects.filter(action="contacts.sync").count() == 3


def test_the_bulk_action_counts_one_started_and_one_running_sync_in_the_singular(
    admin_client, make_bot
):
    bots = [make_bot(), make_bot()]
    sync.request_sync(bots[0], SyncRun.Trigger.PERIODIC, enqueue=False)  # already running
    admin_client.cookies["django_language"] = "en"

    response = admin_client.post(
        reverse("admin:conversations_bot_changelist"),
        {"action": "sync_contacts", "_selected_action": [b.pk for b in bots]},
        follow=True,
    )

    page = response.content.decode()
    assert "Started 1 contact sync." in page
    assert "1 contact sync was already running." in page


def test_the_bot_page_shows_the_last_runs_and_the_progress_of_a_running_one(admin_client, bot):
    SyncRun.objects.create(
        bot=bot, trigger="periodic", outcome="failed", error="agent answered HTTP 500"
    )
    SyncRun.objects.create(
        bot=bot, trigger="admin", outcome="running", pages_fetched=7, groups_added=120
    )
    page = admin_client.get(reverse("admin:conversations_bot_change", args=[bot.pk]))
    html = page.content.decode()
    assert 'data-active="1"' in html and "agent answered HTTP 500" in html
    assert "+120" in html and "sync-status.js" in html

    status = admin_client.get(reverse("admin:conversations_bot_sync_status", args=[bot.pk]))
    assert status.json()["active"] is True
    assert '<td class="sync-pages">7</td>' in status.json()["html"]


def test_the_sync_run_list_is_read_only_and_scoped(client, bot, make_bot, make_operator):
    other = make_bot(name="other")
    SyncRun.objects.create(bot=bot, trigger="admin", outcome="succeeded")
    SyncRun.objects.create(bot=other, trigger="admin", outcome="failed", error="other-bot-error")
    client.force_login(make_operator("alice", bot))
    page = client.get(reverse("admin:conversations_syncrun_changelist")).content.decode()
    assert "other-bot-error" not in page and "acme" in page
    assert client.get(reverse("admin:conversations_syncrun_add")).status_code == 403


def test_the_sync_block_speaks_chinese_by_default_and_english_when_chosen(
    admin_client, bot, settings
):
    SyncRun.objects.create(bot=bot, trigger="periodic", outcome="succeeded")
    url = reverse("admin:conversations_bot_change", args=[bot.pk])
    chinese = admin_client.get(url).content.decode()
    assert "立即同步" in chinese and "联系人同步" in chinese and "定时" in chinese
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = admin_client.get(url).content.decode()
    assert "Sync now" in english and "Periodic" in english


@pytest.fixture
def aibot(listless_bot):
    return listless_bot


def test_a_bot_that_cannot_list_contacts_has_no_sync_now_but_the_reason(admin_client, aibot, bot):
    page = admin_client.get(reverse("admin:conversations_bot_change", args=[aibot.pk]))
    html = page.content.decode()
    assert "此连接器无法列出联系人：收到消息时会话会自动出现。" in html
    assert sync_url(aibot) not in html
    assert (
        sync_url(bot)
        in admin_client.get(
            reverse("admin:conversations_bot_change", args=[bot.pk])
        ).content.decode()
    )


def test_sync_now_of_a_bot_that_cannot_list_contacts_records_why(
    admin_client, aibot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(sync_url(aibot), follow=True)
    assert "此连接器无法列出联系人" in response.content.decode()
    run = aibot.sync_runs.get()
    assert run.outcome == SyncRun.Outcome.NOT_POSSIBLE and not callbacks  # no worker needed
    assert OperatorAction.objects.filter(action="contacts.sync", bot=aibot).exists()


def test_the_bulk_action_says_how_many_bots_cannot_sync(admin_client, aibot, bot):
    response = admin_client.post(
        reverse("admin:conversations_bot_changelist"),
        {"action": "sync_contacts", "_selected_action": [aibot.pk, bot.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "其中 1 个机器人无法同步" in html
    assert bot.sync_runs.get().outcome == SyncRun.Outcome.PENDING
    assert aibot.sync_runs.get().outcome == SyncRun.Outcome.NOT_POSSIBLE
    runs = admin_client.get(reverse("admin:conversations_syncrun_changelist")).content.decode()
    assert "无法进行" in runs and "此连接器无法列出联系人" in runs


def test_a_bulk_sync_that_fails_midway_starts_none_and_wakes_no_worker(admin_client, make_bot):
    bots = [make_bot(), make_bot()]

    with fails_midway("contacts.sync") as published:
        admin_client.post(
            reverse("admin:conversations_bot_changelist"),
            {"action": "sync_contacts", "_selected_action": [b.pk for b in bots]},
        )

    assert not SyncRun.objects.exists()
    assert not OperatorAction.objects.filter(action="contacts.sync").exists()
    assert published == []
