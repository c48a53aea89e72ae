"""A reviewer's round on a machine without internet, in Chinese: WeCom's name does not
resolve. The robot bot's connection test names the cause once and its key table shows each
key's failed check; the bots list says its sending is blocked, why and since when; the
message's trace says which attempt of how many and when botadmin gives up; the app bot's
test and checklist say the same in one line.

Screenshots land in test-artifacts/console-unreachable/.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.delivery import deliver
from tests.browser import needs_chromium, screenshot

pytestmark = [*needs_chromium, pytest.mark.django_db(transaction=True)]

TEXT = {"msgtype": "text", "text": {"content": "CPU 告警：web-01 使用率 95%"}}


def shoot(page, name: str) -> None:
    screenshot(page, "console-unreachable", name)


def log_in(page, username: str) -> None:
    page.goto("/console/login/")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill("pw-" + username)
    page.get_by_role("button", name="登录").click()


@pytest.fixture
def offline(settings, unknown_names):
    settings.WECOM_API_BASE = "https://qyapi.weixin.invalid"


def test_a_robot_bot_without_dns_says_why_in_one_line_everywhere(
    page, offline, wecom_bot, make_conversation, make_operator, queue_message, clock
):
    from playwright.sync_api import expect

    release = make_conversation(wecom_bot, "release", name="发布群", robot_key="key-sales")
    make_conversation(wecom_bot, "alerts", name="线上告警群", robot_key="key-ops")
    make_operator("ops", wecom_bot)
    log_in(page, "ops")

    page.goto(reverse("console:bot", args=[wecom_bot.pk]))
    expect(page.locator("table.robot-keys")).to_contain_text("尚未检查")
    page.get_by_role("button", name="测试连接").click()
    said = page.locator("#connection-test")
    expect(said).to_contain_text(
        "无法检查机器人密钥：无法连接企业微信：无法解析 qyapi.weixin.invalid"
    )
    expect(page.locator("table.robot-keys td.key-check").first).to_contain_text("失败")
    expect(page.locator("table.robot-keys")).not_to_contain_text("有效")
    shoot(page, "robot-test")

    clock.now = timezone.now() - timedelta(minutes=12)
    message = queue_message(release, TEXT)
    for _ in range(5):
        deliver(message.pk, clock)
        message.refresh_from_db()
        clock.now = message.next_attempt_at
    page.goto(reverse("console:bots"))
    row = page.locator("tr", has_text=wecom_bot.name)
    expect(row).to_contain_text("发送受阻")
    expect(row).to_contain_text("无法连接企业微信：无法解析 qyapi.weixin.invalid")
    expect(row).not_to_contain_text("正常")
    shoot(page, "bots-blocked")

    page.goto(reverse("console:message_trace", args=[wecom_bot.pk, release.pk, message.pk]))
    expect(page.locator("#retry-plan")).to_contain_text("第 5 次尝试失败，共 8 次")
    expect(page.locator("#retry-plan")).to_contain_text("放弃")
    shoot(page, "robot-trace")


def test_an_app_bot_without_dns_says_why_in_one_line(
    page, offline, app_bot, make_operator, settings
):
    from playwright.sync_api import expect

    make_operator("hr", app_bot)
    log_in(page, "hr")

    page.goto(reverse("console:bot", args=[app_bot.pk]))
    page.get_by_role("button", name="测试连接").click()

    unreachable = "无法连接企业微信获取 access token：无法解析 qyapi.weixin.invalid"
    expect(page.locator("#connection-test")).to_contain_text(unreachable)
    expect(page.locator("#setup-step-app")).to_contain_text(f"上次测试连接失败：{unreachable}")
    expect(page.locator("#setup-step-trusted_ip")).to_contain_text("公网出口 IP")
    expect(page.locator("body")).not_to_contain_text("Max retries")
    shoot(page, "app-test")


def test_an_ai_bots_guide_names_its_long_connection_url_and_the_process_holding_it(
    page, listless_bot, superuser
):
    from playwright.sync_api import expect

    from conversations.models import BotConnection

    BotConnection.objects.create(
        bot=listless_bot,
        state="connected",
        holder="vm:10437:ebd9109e",
        lease_expires_at=timezone.now() + timedelta(minutes=5),
        connected_since=timezone.now(),
    )
    page.goto("/console/login/")
    page.get_by_label("用户名").fill("root")
    page.get_by_label("密码").fill("pw-root-123456")
    page.get_by_role("button", name="登录").click()

    page.goto(reverse("console:bot", args=[listless_bot.pk]))

    values = page.locator("#connector-values")
    expect(values).to_contain_text("wss://openws.work.weixin.qq.com")
    expect(values).to_contain_text("服务器的 WECOM_AIBOT_WS_URL")
    live = page.locator("#live-connection")
    expect(live).to_contain_text("主机 vm 上的网关进程（PID 10437）")
    expect(live.locator("details code")).not_to_be_visible()
    shoot(page, "aibot-guide")
