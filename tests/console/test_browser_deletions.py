"""Deleting in a real browser: a bot admin deletes a conversation from its page and follows
the job; while it runs, the conversation's page and its bot's pages say so.

Screenshots land in test-artifacts/console/ (git-ignored).
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from botadmin.reasons import Reason
from conversations.models import Conversation
from deletions import services
from deletions.models import DeletionJob
from messaging.models import MessageMedia
from tests.browser import needs_chromium
from tests.deletions.running import run_deletions

from .browser import shoot

pytestmark = needs_chromium


@pytest.fixture
def bot_admin(transactional_db, bot):
    user = get_user_model().objects.create_user("zhao", password="pw-zhao-console-1")
    user.user_permissions.add(Permission.objects.get(codename="administer_bot"))
    bot.operators.add(user)
    return user


def _log_in(page) -> None:
    page.goto("/console/login/")
    page.get_by_label("用户名").fill("zhao")
    page.get_by_label("密码").fill("pw-zhao-console-1")
    page.get_by_role("button", name="登录").click()


def test_a_bot_admin_deletes_a_conversation_and_follows_it(
    page, bot_admin, bot, group, make_conversation, make_message
):
    from playwright.sync_api import expect

    make_conversation(bot, "wrKept", name="留下的群")
    for n in range(4):
        inbound = make_message(group, text=f"第 {n} 条")
        if n % 2:
            MessageMedia.objects.create(message=inbound, cdn=f"c{n}")
    _log_in(page)
    page.goto(f"/console/bots/{bot.pk}/conversations/{group.pk}/")
    page.set_viewport_size({"width": 390, "height": 760})
    expect(page.get_by_role("link", name="删除会话…")).to_be_in_viewport()
    shoot(page, "deletions-00-conversation-390")
    page.set_viewport_size({"width": 1280, "height": 860})

    page.get_by_role("link", name="删除会话…").click()
    expect(page.get_by_role("heading", name="将被删除的内容")).to_be_visible()
    counts = page.locator("#deletion-counts tr")
    expect(
        counts.filter(has=page.get_by_role("rowheader", name="消息", exact=True))
    ).to_contain_text("4")
    expect(
        counts.filter(has=page.get_by_role("rowheader", name="这些消息中的图片和文件"))
    ).to_contain_text("2")
    shoot(page, "deletions-01-confirm-conversation")
    page.get_by_role("button", name="删除会话及其历史记录").click()

    expect(page.locator("#deletion-status")).to_contain_text("等待执行")
    shoot(page, "deletions-02-progress-queued")
    job = services.deletion_under_way(bot.pk, group.pk)
    assert job is not None and job.requested_by == bot_admin

    # Its page, opened meanwhile: the banner, the progress link, and no reply box.
    page.goto(f"/console/bots/{bot.pk}/conversations/{group.pk}/")
    banner = page.locator("#being-deleted")
    expect(banner).to_contain_text("正在删除此会话…")
    expect(page.locator("#no-reply")).to_be_visible()
    expect(page.locator("form.reply-box")).to_have_count(0)
    shoot(page, "deletions-03-conversation-being-deleted")
    page.goto(f"/console/bots/{bot.pk}/")
    expect(page.locator(".being-deleted")).to_have_text("正在删除")
    shoot(page, "deletions-04-conversation-list")

    page.goto(f"/console/bots/{bot.pk}/conversations/{group.pk}/")
    page.locator("#deletion-progress-link").click()
    run_deletions()  # the worker; the open page follows it
    expect(page.locator("#deletion-status")).to_contain_text("已删除")
    expect(page.locator("#deletion-counts")).to_contain_text("4")
    shoot(page, "deletions-05-progress-done")
    assert not Conversation.objects.filter(pk=group.pk).exists()
    page.get_by_role("link", name=f"{bot.name} 的会话").click()
    expect(page.get_by_text("留下的群")).to_be_visible()
    expect(page.get_by_text("销售群")).to_have_count(0)


def test_a_bot_being_deleted_says_so_on_its_pages(page, bot_admin, bot, group, superuser):
    from playwright.sync_api import expect

    job, _ = services.request_bot_deletion(bot, superuser, via="test")
    _log_in(page)

    page.goto(f"/console/bots/{bot.pk}/settings/")
    banner = page.locator("#being-deleted")
    expect(banner).to_contain_text("正在删除此机器人…")
    expect(page.locator("#delete-bot")).to_have_count(0)
    shoot(page, "deletions-06-bot-being-deleted")
    page.get_by_role("button", name="立即同步").click()
    expect(page.locator(".flash")).to_contain_text(
        "正在删除 acme：不再为它发送、同步或保存任何新内容。"
    )
    expect(page).to_have_url(f"/console/deletions/{job.pk}/", ignore_case=False)
    shoot(page, "deletions-07-sync-refused")

    page.goto("/console/dashboard/")
    expect(page.locator(".being-deleted")).to_have_text("正在删除")
    shoot(page, "deletions-08-dashboard")


def test_a_failed_deletion_is_tried_again_from_its_page(page, bot_admin, bot, group, superuser):
    from playwright.sync_api import expect

    job, _ = services.request_conversation_deletion(group, superuser, via="test")
    DeletionJob.objects.filter(pk=job.pk).update(
        status=DeletionJob.Status.FAILED,
        attempts=5,
        error=Reason(services.GAVE_UP, n=5, reason="OperationalError: disk I/O error"),
    )
    _log_in(page)
    page.goto(f"/console/bots/{bot.pk}/conversations/{group.pk}/")
    expect(page.locator("#being-deleted")).to_contain_text("此会话的删除已停止：")
    page.locator("#deletion-progress-link").click()

    expect(page.locator("#deletion-error")).to_contain_text(
        "删除在失败 5 次后停止：OperationalError: disk I/O error"
    )
    shoot(page, "deletions-09-failed")
    page.get_by_role("button", name="重试").click()

    expect(page.locator(".flash")).to_contain_text("已重新开始删除。")
    expect(page.locator("#deletion-status")).to_contain_text("等待执行")
    run_deletions()
    expect(page.locator("#deletion-status")).to_contain_text("已删除")
    shoot(page, "deletions-10-retried")
