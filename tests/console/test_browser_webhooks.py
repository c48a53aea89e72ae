"""Webhooks in a real browser, as a bot admin who never opens /admin/.

Screenshots land in test-artifacts/console/ (git-ignored).
"""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone, translation
from standardwebhooks.webhooks import Webhook

from audit.models import OperatorAction
from forwarding.models import WebhookDelivery, WebhookEndpoint
from messaging.status_labels import clock_time
from tests.browser import needs_chromium

from .browser import shoot

pytestmark = needs_chromium


@pytest.fixture
def bot_admin(transactional_db, bot):
    """An operator of `bot` who may manage its endpoints, without access to Django's admin."""
    user = get_user_model().objects.create_user("zhao", password="pw-zhao-console-1")
    user.user_permissions.add(Permission.objects.get(codename="administer_bot"))
    bot.operators.add(user)
    return user


def log_in_as_bot_admin(page) -> None:
    """Log in to the console as `bot_admin`."""
    page.goto("/console/login/")
    page.get_by_label("用户名").fill("zhao")
    page.get_by_label("密码").fill("pw-zhao-console-1")
    page.get_by_role("button", name="登录").click()


def test_a_bot_admin_adds_an_endpoint_sends_a_test_event_and_replays_a_failure(
    page, bot_admin, bot, group, make_message, receiver
):
    from playwright.sync_api import expect

    log_in_as_bot_admin(page)
    expect(page.get_by_role("link", name="管理后台")).to_have_count(0)

    # From the dashboard's row for the bot to its webhooks.
    page.get_by_role("banner").get_by_role("link", name="仪表盘").click()
    page.get_by_role("link", name="添加端点").click()
    expect(page.get_by_role("heading", name="Webhook")).to_be_visible()
    page.get_by_label("URL").fill(receiver.url("/hook"))
    page.get_by_label("文本").check()
    page.get_by_label("其他消息类型").fill("voice")
    page.get_by_label("说明").fill("客服系统")
    shoot(page, "webhooks-01-add")
    page.get_by_role("button", name="添加端点").click()
    expect(page.get_by_text("端点已添加。")).to_be_visible()
    endpoint = WebhookEndpoint.objects.get(bot=bot)
    assert endpoint.msgtypes == ["text", "voice"]

    receiver.respond(200, b'{"ok": true}')
    page.get_by_role("button", name="发送测试事件").click()
    expect(page.get_by_text("端点已响应测试事件。")).to_be_visible()
    expect(page.locator(".test-result")).to_contain_text("HTTP 200")
    (request,) = receiver.requests
    assert Webhook(endpoint.signing_secret).verify(request.body, request.headers)
    shoot(page, "webhooks-02-test-event")

    # A delivery that failed for good is replayed from the list of recent deliveries.
    message = make_message(group, text="我要退货")
    delivery = WebhookDelivery.objects.create(
        message=message,
        endpoint=endpoint,
        status="failed",
        attempt_count=8,
        last_http_status=503,
        last_error="HTTP 503",
        next_attempt_at=timezone.now(),
    )
    page.goto(f"/console/bots/{bot.pk}/webhooks/{endpoint.pk}/")
    row = page.locator(f"#delivery-{delivery.pk}")
    expect(row).to_contain_text("我要退货")
    expect(row).to_contain_text("失败")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="重放").click()
    expect(page.get_by_text("该投递已使用相同的 webhook-id 重新排队。")).to_be_visible()
    delivery.refresh_from_db()
    assert delivery.replay_count == 1
    shoot(page, "webhooks-03-replayed")

    assert set(OperatorAction.objects.values_list("action", flat=True)) == {
        "endpoint.create",
        "endpoint.test",
        "delivery.replay",
    }


def test_a_long_answer_to_the_test_event_wraps_inside_the_page(page, bot_admin, bot, receiver):
    """A failed test event shows the endpoint's answer (or the connection error, a
    long line without spaces) wrapped in its card, not as a line wider than the page."""
    from playwright.sync_api import expect

    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/hook"))
    receiver.respond(500, b"HTTPConnectionPool(host='10.0.0.1',port=8199):" + b"x" * 900)
    log_in_as_bot_admin(page)
    page.goto(f"/console/bots/{bot.pk}/webhooks/{endpoint.pk}/")
    page.get_by_role("button", name="发送测试事件").click()
    expect(page.get_by_text("测试事件失败。")).to_be_visible()
    expect(page.locator(".test-result")).to_contain_text("HTTP 500")
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shoot(page, "webhooks-04-long-answer")


def test_a_bot_admin_deletes_an_endpoint_after_confirming(page, bot_admin, bot, receiver):
    from playwright.sync_api import expect

    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/typo"))
    log_in_as_bot_admin(page)
    page.goto(f"/console/bots/{bot.pk}/webhooks/{endpoint.pk}/")

    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("button", name="删除此端点").click()
    expect(page.get_by_role("heading", name="删除端点")).to_be_visible()
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.get_by_role("button", name="删除此端点").click()
    expect(page.get_by_text(f"端点 {endpoint.url} 已删除。")).to_be_visible()
    assert page.url.endswith(f"/console/bots/{bot.pk}/webhooks/")
    assert questions == ["删除此端点？之后不再向它转发任何消息。"] * 2
    assert not WebhookEndpoint.objects.exists()
    assert OperatorAction.objects.get().action == "endpoint.delete"
    shoot(page, "webhooks-05-deleted")


def one_line(button) -> bool:
    """The button's words stand on one line (a range over them has one box per line)."""
    return button.evaluate(
        "b => { const r = document.createRange(); r.selectNodeContents(b);"
        " return r.getClientRects().length === 1; }"
    )


def test_deliveries_page_older_and_newer_and_replay_stays_on_one_line(
    page, bot_admin, bot, group, make_message, receiver
):
    """25 deliveries: 20 on the first page, 5 behind "older"; each row's Replay button
    on one line beside long message texts, on a 1280 px screen and on a phone."""
    from playwright.sync_api import expect

    from console.webhooks import DELIVERIES_PAGE

    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/hook"))
    for i in range(DELIVERIES_PAGE + 5):
        WebhookDelivery.objects.create(
            message=make_message(group, text=f"第 {i} 位客户询问退货运费由谁承担以及多久到账"),
            endpoint=endpoint,
            status="failed" if i % 2 else "delivered",
            attempt_count=8,
            last_http_status=503,
            replay_count=i % 3,
        )
    log_in_as_bot_admin(page)
    page.goto(f"/console/bots/{bot.pk}/webhooks/{endpoint.pk}/")

    rows = page.locator("table.deliveries tbody tr")
    expect(rows).to_have_count(DELIVERIES_PAGE)
    replays = page.get_by_role("button", name="重放", exact=True)
    assert all(one_line(button) for button in replays.all())
    page.locator("#deliveries").scroll_into_view_if_needed()
    shoot(page, "webhooks-06-deliveries-1280")

    page.get_by_role("link", name="较早的投递").click()
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("第 4 位客户")
    page.locator("#deliveries .pager").scroll_into_view_if_needed()
    shoot(page, "webhooks-07-older-deliveries")
    # Replay on the older page comes back to it, at the row, not to the latest page.
    older_page = page.url
    page.once("dialog", lambda dialog: dialog.accept())
    rows.last.get_by_role("button", name="重放").click()
    expect(rows.last).to_contain_text("已重放 1 次")
    assert page.url.split("#")[0] == older_page
    expect(rows.last).to_be_in_viewport()
    shoot(page, "webhooks-07-older-page-replayed")
    page.get_by_role("link", name="较新的投递").click()
    expect(rows).to_have_count(DELIVERIES_PAGE)
    expect(rows.first).to_contain_text("第 24 位客户")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert all(one_line(button) for button in replays.all())
    # The table scrolls inside its card (the Replay buttons at its right end); the page
    # itself does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#deliveries .table-wrap").evaluate("el => el.scrollLeft = el.scrollWidth")
    replays.first.scroll_into_view_if_needed()
    expect(replays.first).to_be_in_viewport()
    shoot(page, "webhooks-08-deliveries-390")


def test_a_bot_admin_unticks_sending_the_api_secret_and_the_test_event_says_a_dash(
    page, bot_admin, bot, receiver
):
    from playwright.sync_api import expect

    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/hook"))
    log_in_as_bot_admin(page)
    page.goto(f"/console/bots/{bot.pk}/webhooks/{endpoint.pk}/")

    box = page.get_by_label("发送 API 密钥")
    expect(box).to_be_checked()
    box.uncheck()
    shoot(page, "webhooks-09-api-secret-unticked")
    page.locator("#endpoint-form").get_by_role("button", name="保存").click()
    expect(page.get_by_text("端点已保存。")).to_be_visible()
    expect(page.get_by_label("发送 API 密钥")).not_to_be_checked()
    page.get_by_role("button", name="发送测试事件").click()
    expect(page.get_by_text("端点已响应测试事件。")).to_be_visible()

    (request,) = receiver.requests
    assert Webhook(endpoint.signing_secret).verify(request.body, request.headers)["secret"] == "-"
    assert OperatorAction.objects.get(action="endpoint.update").actor == bot_admin


def test_the_dashboard_names_a_failing_endpoint_whose_page_says_its_deliveries_wait_to_retry(
    page, bot_admin, bot, group, make_message
):
    """The dashboard listed three bare health lines, and a failing endpoint's page said
    "没有失败的投递，无需重放。": each line names its endpoint and leads to its page, which
    says how many deliveries wait to retry and when."""
    from playwright.sync_api import expect

    now = timezone.now()
    failing = WebhookEndpoint.objects.create(
        bot=bot,
        url="http://127.0.0.1:7668/fail",
        description="CRM 同步（故障）",
        failure_streak=10192,
        failing_since=now - timedelta(minutes=8),
    )
    WebhookEndpoint.objects.create(bot=bot, url="http://127.0.0.1:7668/ok", last_success_at=now)
    WebhookEndpoint.objects.create(bot=bot, url="http://127.0.0.1:7999/nothing")
    for minutes in (5, 2):
        WebhookDelivery.objects.create(
            message=make_message(group, text=f"订单 {minutes}"),
            endpoint=failing,
            status="pending",
            attempt_count=2,
            last_http_status=500,
            next_attempt_at=now + timedelta(minutes=minutes),
        )
    log_in_as_bot_admin(page)

    page.get_by_role("banner").get_by_role("link", name="仪表盘").click()
    lines = page.locator(".endpoint-health")
    with translation.override("zh-hans"):  # the page's language
        since = clock_time(failing.failing_since)
    expect(lines).to_have_text(
        [
            f"CRM 同步（故障） 失败中 自 {since} 起连续失败 10192 次",
            "127.0.0.1:7668 正常 上次成功于不到一分钟前",  # the other on its host is named
            "127.0.0.1:7999 尚无投递",
        ],
        use_inner_text=True,
    )
    shoot(page, "webhooks-10-dashboard-named")
    lines.get_by_role("link", name="CRM 同步（故障）").click()

    next_at = clock_time(now + timedelta(minutes=2))  # with its seconds, within the hour
    expect(page.locator("#actions")).to_contain_text(f"2 条投递等待重试（下次 {next_at}）。")
    expect(page.locator("#no-failed-deliveries")).to_have_count(0)
    shoot(page, "webhooks-11-failing-endpoint")


def test_a_bot_admin_forwards_what_an_endpoint_missed_while_it_was_off(
    page, live_server, bot_admin, bot, group, make_message, receiver, monkeypatch
):
    from playwright.sync_api import expect

    from forwarding import recovery
    from forwarding.endpoints import change_endpoint
    from forwarding.tasks import recover_missed_rest

    monkeypatch.setattr(recovery, "RECOVER_BATCH", 2)  # the request queues 2, a task the rest
    endpoint = WebhookEndpoint.objects.create(bot=bot, url=receiver.url("/hook"))
    change_endpoint(bot_admin, endpoint, is_active=False)  # the receiver's maintenance
    for n in range(1, 4):
        make_message(group, text=f"维护期间的消息 {n}")
    change_endpoint(bot_admin, endpoint, is_active=True)
    endpoint.refresh_from_db()
    with translation.override("zh-hans"):
        since = f"{clock_time(endpoint.stopped_at)} CST"  # the bot's zone: Asia/Shanghai
    log_in_as_bot_admin(page)
    endpoint_page = f"/console/bots/{bot.pk}/webhooks/{endpoint.pk}/"
    page.goto(endpoint_page)

    page.get_by_role("link", name=f"补发它自 {since} 起错过的消息").click()
    expect(page.get_by_text(f"将向该端点转发自 {since} 起的 3 条消息。")).to_be_visible()
    shoot(page, "webhooks-12-recover-count")
    assert not endpoint.deliveries.exists()  # counting queued nothing
    page.get_by_role("button", name="转发 3 条消息").click()

    expect(page.get_by_text("已为该端点排队 2 条错过的消息，共 3 条")).to_be_visible()
    expect(page.locator("#recover-progress")).to_contain_text("已排队 2 条，共 3 条")
    expect(page.locator("#deliveries tbody tr")).to_have_count(2)
    shoot(page, "webhooks-13-recovering")
    recover_missed_rest(OperatorAction.objects.get(action="endpoint.recover_missed").pk)
    # The sentence updates by itself (recover-progress.js), then stops asking.
    expect(page.locator("#recover-progress")).to_contain_text("已完成，共排队 3 条消息")
    expect(page.locator("#recover-progress")).not_to_have_attribute(
        "data-poll-url", re.compile(".")
    )
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    page.wait_for_timeout(5000)
    assert not [url for url in asked if url.endswith("/recover/progress")]
    page.reload()
    expect(page.locator("#deliveries tbody tr")).to_have_count(3)
    shoot(page, "webhooks-14-recovered")
    assert OperatorAction.objects.filter(action="endpoint.recover_missed").count() == 1

    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(endpoint_page)
    expect(page.locator("#recover-progress")).to_contain_text("done, 3 messages queued")
    page.goto(f"{endpoint_page}recover?since=2026-02-30T09:00")
    expect(page.locator("#recover-since-error")).to_have_text("Enter a valid date/time.")
    shoot(page, "webhooks-15-recover-unreadable-time-en")
    page.get_by_label("Messages stored since").fill("2020-01-01T09:00")
    page.get_by_role("button", name="Count again").click()
    expect(page.locator("#recover-count")).to_contain_text(
        "0 messages since"
    )  # older than 7 days: counted from 7 days ago, all sent already
    shoot(page, "webhooks-16-recover-count-en")
    expect(page.locator("#recover-since-moved")).to_have_text(
        "The time typed was more than 7 days ago: moved to the earliest allowed."
    )
    expect(page.get_by_label("Messages stored since")).not_to_have_value("2020-01-01T09:00")
    shoot(page, "webhooks-17-recover-moved-en")
    page.context.add_cookies(
        [{"name": "django_language", "value": "zh-hans", "url": live_server.url}]
    )
    page.goto(f"{endpoint_page}recover?since=2020-01-01T09:00")
    expect(page.locator("#recover-since-moved")).to_have_text(
        "输入的时间早于 7 天前：已改为允许的最早时间。"
    )
    shoot(page, "webhooks-18-recover-moved")
