"""A bot whose messages keep failing is not "running": the bots list says its sending is
blocked, why and since when, from the delivery attempts (one query for the whole list);
a waiting message's trace says which attempt it is of how many, and when botadmin gives
up at the latest."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from botadmin.reasons import Reason
from messaging.delivery import deliver
from messaging.models import Message
from messaging.status_labels import clock_time
from tests.counted_queries import get_counting_queries

BOTS = reverse("console:bots")
TEXT = {"msgtype": "text", "text": {"content": "CPU 告警：web-01 使用率 95%"}}


@pytest.fixture
def robot_client(client, make_operator, wecom_bot):
    client.force_login(make_operator("ops", wecom_bot))
    return client


def bot_row(page: str, name: str) -> str:
    return page.split(f">{name}</a>")[1].split("</tr>")[0]


def failing_five_times(wecom_group, queue_message, clock, settings, unknown_names) -> Message:
    """A message whose 5 attempts since 12 minutes ago all found WeCom's name unresolved."""
    settings.WECOM_API_BASE = "https://qyapi.weixin.invalid"
    clock.now = timezone.now() - timedelta(minutes=12)
    message = queue_message(wecom_group, TEXT)
    for _ in range(5):
        assert deliver(message.pk, clock).result == "retry"
        message.refresh_from_db()
        clock.now = message.next_attempt_at
    return message


def test_a_bot_whose_messages_keep_failing_shows_blocked_why_and_since_when(
    wecom, wecom_bot, wecom_group, queue_message, clock, settings, unknown_names, robot_client
):
    message = failing_five_times(wecom_group, queue_message, clock, settings, unknown_names)
    first = message.attempts.order_by("started_at").first().started_at

    row = bot_row(robot_client.get(BOTS).content.decode(), wecom_bot.name)

    assert "发送受阻" in row and "正常" not in row
    assert f"自 {clock_time(first)} 起" in row
    assert "无法连接企业微信：无法解析 qyapi.weixin.invalid" in row

    settings.WECOM_API_BASE = wecom.base_url  # the network is back
    assert deliver(message.pk, clock).result == "sent"
    row = bot_row(robot_client.get(BOTS).content.decode(), wecom_bot.name)
    assert "正常" in row and "发送受阻" not in row


def test_a_single_failure_moments_ago_is_not_called_blocked(
    wecom_bot, wecom_group, queue_message, clock, settings, unknown_names, robot_client
):
    settings.WECOM_API_BASE = "https://qyapi.weixin.invalid"
    assert deliver(queue_message(wecom_group, TEXT).pk, clock).result == "retry"

    row = bot_row(robot_client.get(BOTS).content.decode(), wecom_bot.name)

    assert "正常" in row and "发送受阻" not in row


def test_the_trace_says_which_attempt_of_how_many_and_when_botadmin_gives_up_at_the_latest(
    wecom_bot, wecom_group, queue_message, clock, settings, unknown_names, robot_client
):
    message = failing_five_times(wecom_group, queue_message, clock, settings, unknown_names)
    base, attempts = (
        django_settings.DELIVERY_RETRY_BASE_DELAY,
        django_settings.DELIVERY_MAX_ATTEMPTS,
    )
    waits_left = sum(base * 2**n for n in range(5, attempts - 1)) * 1.2  # their longest
    give_up = timezone.localtime(message.next_attempt_at + timedelta(seconds=waits_left))

    url = reverse("console:message_trace", args=[wecom_bot.pk, wecom_group.pk, message.pk])
    page = robot_client.get(url).content.decode()

    assert f"第 5 次尝试失败，共 {attempts} 次" in page
    assert f"最迟 {clock_time(give_up)} 放弃" in page  # seconds when within the hour
    assert "after 5 attempts" not in page


def test_the_bots_list_reads_the_sending_state_of_every_bot_in_the_same_queries(
    make_bot, make_conversation, make_message, make_attempt, make_operator, client
):
    """Three blocked bots cost the list what one costs: no query per bot."""
    since = timezone.now() - timedelta(minutes=16)
    reason = Reason(
        "cannot connect to WeCom: %(error)s", error="cannot resolve qyapi.weixin.qq.com"
    )
    user = make_operator("ops")
    client.force_login(user)

    def blocked_bot(name: str):
        bot = make_bot(name=name)
        bot.operators.add(user)
        group = make_conversation(bot, f"g-{name}")
        message = make_message(
            group, "out", status="queued", attempt_count=5, last_error=reason,
            next_attempt_at=timezone.now() + timedelta(minutes=5),
        )  # fmt: skip
        for n in range(5):
            make_attempt(message, "retry", started_at=since + timedelta(minutes=n))

    blocked_bot("one")
    one = get_counting_queries(client, BOTS)
    blocked_bot("two")
    blocked_bot("three")
    three = get_counting_queries(client, BOTS)

    assert len(three) == len(one)
    page = three.response.content.decode()
    assert page.count("发送受阻") == 3
    assert bot_row(page, "two").count(f"自 {clock_time(since)} 起") == 1
