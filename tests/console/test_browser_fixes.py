"""Fixing failed messages in a real browser, as an operator who never opens /admin/.

Screenshots land in test-artifacts/console/ (git-ignored).
"""

import re

import pytest
from django.contrib.auth import get_user_model

from audit.models import OperatorAction
from messaging.models import Message
from tests.browser import needs_chromium

from .browser import shoot

pytestmark = needs_chromium


@pytest.fixture
def console_operator(transactional_db, bot):
    """An operator of `bot` without access to Django's admin."""
    user = get_user_model().objects.create_user("wang", password="pw-wang-console-1")
    bot.operators.add(user)
    return user


def log_in_as_operator(page) -> None:
    page.goto("/console/login/")
    page.get_by_label("用户名").fill("wang")
    page.get_by_label("密码").fill("pw-wang-console-1")
    page.get_by_role("button", name="登录").click()


def open_trace(page, message):
    bubble = page.locator(f"#m{message.pk}")
    bubble.locator("details.trace summary").click()
    return bubble.locator(".trace-body")


def test_an_operator_retries_a_failed_message_and_marks_an_uncertain_one_sent(
    page, console_operator, bot, group, make_message
):
    from playwright.sync_api import expect

    failed = make_message(
        group,
        direction="out",
        text="今晚八点发货",
        status="failed",
        attempt_count=5,
        last_error="agent answered 502",
    )
    uncertain = make_message(
        group, direction="out", text="订单已确认", status="uncertain", attempt_count=1
    )
    log_in_as_operator(page)
    expect(page.get_by_role("link", name="管理后台")).to_have_count(0)
    page.goto(f"/console/bots/{bot.pk}/conversations/{group.pk}/")

    # The failed message: its trace shows the content, the error and "retry now".
    trace = open_trace(page, failed)
    expect(trace.locator(".trace-content")).to_contain_text("今晚八点发货")
    expect(trace).to_contain_text("agent answered 502")
    expect(trace.get_by_role("button", name="标记为已发送")).to_have_count(0)
    shoot(page, "fixes-01-failed-trace")

    # Declining the confirmation changes nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    trace.get_by_role("button", name="立即重试").click()
    page.wait_for_timeout(300)
    failed.refresh_from_db()
    assert failed.status == "failed"

    page.once("dialog", lambda dialog: dialog.accept())
    trace.get_by_role("button", name="立即重试").click()
    expect(page.get_by_text("消息已重新排队。")).to_be_visible()
    failed.refresh_from_db()
    assert failed.status in Message.Status.IN_DELIVERY or failed.status in ("sent", "uncertain")
    assert failed.attempt_count <= 1
    shoot(page, "fixes-02-retried")

    # The uncertain message: a warning, "retry now" and "mark as sent".
    trace = open_trace(page, uncertain)
    expect(trace).to_contain_text("该消息可能已经发出")
    expect(trace.get_by_role("button", name="立即重试")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    trace.get_by_role("button", name="标记为已发送").click()
    expect(page.get_by_text("消息已标记为已发送。")).to_be_visible()
    badge = page.locator(f"#m{uncertain.pk} [data-status]")
    expect(badge).to_have_attribute("data-status", "sent")
    shoot(page, "fixes-03-marked-sent")

    actions = OperatorAction.objects.filter(actor=console_operator)
    assert sorted(actions.values_list("action", flat=True)) == [
        "message.mark_sent",
        "message.retry",
    ]


def test_the_trace_page_works_without_the_timeline(
    page, console_operator, bot, group, make_message
):
    from playwright.sync_api import expect

    queued = make_message(group, direction="out", text="明天的提醒", status="scheduled")
    log_in_as_operator(page)
    page.goto(f"/console/bots/{bot.pk}/conversations/{group.pk}/messages/{queued.pk}/trace")
    expect(page.locator(".trace-content")).to_contain_text("明天的提醒")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="取消发送").click()
    expect(page.get_by_text("消息已取消。")).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text(re.compile("已取消"))
    shoot(page, "fixes-04-cancelled-on-trace-page")
