"""A message held back on purpose says so where an operator looks: in the timeline and on
its details page, a queued message whose next attempt is to come shows "waiting until
00:00 tomorrow" (the console's time zone) and why (a daily cap of the WeCom app, its sending
pace), in Chinese by default and in English when chosen; one simply queued still shows
as queued. The holds are real: the delivery engine against the fake WeCom app and the
fake WeCom robot API."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from connectors.registry import connector_for
from messaging import delivery
from messaging.models import Message
from messaging.status_labels import clock_time
from tests.connectors.wecom_app.test_daily_caps import CHINA, drain_before, next_china_midnight

TEXT = {"msgtype": "text", "text": {"content": "日报"}}


def page(client, name: str, message) -> str:
    args = [message.bot_id, message.conversation_id]
    if name == "console:message_trace":
        args.append(message.pk)
    response = client.get(reverse(name, args=args))
    assert response.status_code == 200
    return response.content.decode()


def choose_english(client) -> None:
    client.post(reverse("set_language"), {"language": "en", "next": "/console/"})


@pytest.fixture
def app_chat(app_api, app_bot, make_conversation):
    chatid = connector_for(app_bot).create_group("项目群", "zhangsan", ["zhangsan", "lisi"])
    return make_conversation(app_bot, chatid, name="项目群")


@pytest.fixture
def held(settings, app_chat, clock, queue_message):
    """The group chat's second message of the day, past its daily cap of one: held until
    the next midnight in China. (The clock is the real one: the page says "明天 00:00", the
    next midnight being on tomorrow's date.)"""
    settings.WECOM_APP_CHAT_DAILY_LIMIT = 1
    queue_message(app_chat, TEXT)
    second = queue_message(app_chat, TEXT)
    midnight = next_china_midnight(clock.now)

    drain_before(clock, midnight)

    second.refresh_from_db()
    assert (second.status, second.next_attempt_at) == (Message.Status.QUEUED, midnight)
    assert second.attempt_count == 0  # a hold is no attempt: "queued" alone would hide it
    return second


def test_a_message_held_by_the_daily_cap_says_until_when_and_why_in_both_languages(
    client,
    make_operator,
    app_bot,
    held,  # noqa: F811
):
    client.force_login(make_operator("alice", app_bot))
    day = f"{held.next_attempt_at.astimezone(CHINA):%Y-%m-%d}"
    why_zh = f"企业微信对此群聊每日 1 条消息的上限已用完：暂缓至北京时间 {day} 00:00"
    why_en = escape(
        "WeCom's daily cap of 1 message for this group chat is reached: held until "
        f"{day} 00:00 China time"
    )

    timeline = page(client, "console:history", held)
    details = page(client, "console:message_trace", held)

    assert '<span class="badge waiting" data-status="queued">等待至 明天 00:00</span>' in timeline
    assert why_zh in timeline
    assert '<span class="badge waiting">等待至 明天 00:00</span>' in details
    assert f"等待至 明天 00:00：{why_zh}" in details  # as its badge says (clock_time)
    assert "排队中" not in details and "error-text" not in details  # a hold is no failure

    choose_english(client)
    timeline = page(client, "console:history", held)
    details = page(client, "console:message_trace", held)

    assert (
        '<span class="badge waiting" data-status="queued">Waiting until 00:00 tomorrow</span>'
        in (timeline)
    )
    assert why_en in timeline and "等待至" not in timeline
    assert f"Waiting until 00:00 tomorrow: {why_en}" in details


def test_a_message_queued_behind_a_held_one_still_shows_as_queued(
    client,
    make_operator,
    app_bot,
    app_chat,
    held,
    queue_message,  # noqa: F811
):
    client.force_login(make_operator("alice", app_bot))
    behind = queue_message(app_chat, TEXT)  # waits for its turn, not for a time

    timeline = page(client, "console:history", behind)
    details = page(client, "console:message_trace", behind)

    bubble = timeline.split(f'id="m{behind.pk}"')[1].split("</article>")[0]
    assert '<span class="badge queued" data-status="queued">排队中</span>' in bubble
    assert "等待至" not in bubble
    assert '<span class="badge queued">排队中</span>' in details and "等待至" not in details
    assert timeline.count("等待至 明天 00:00") == 1  # the held one's badge only


def test_a_message_waiting_for_its_robots_pace_says_so(
    settings, client, make_operator, wecom, wecom_bot, wecom_group, clock, queue_message
):
    # The robot takes 20 a minute: the second message waits 3 s for its turn. (The clock
    # runs ten minutes ahead, so that the wait is still to come when the page is read;
    # within the hour it shows its seconds.)
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0
    clock.advance(600)
    queue_message(wecom_group, TEXT)
    second = queue_message(wecom_group, TEXT)

    delivery.drain(clock)

    second.refresh_from_db()
    assert second.status == Message.Status.QUEUED and second.next_attempt_at > clock.now
    client.force_login(make_operator("alice", wecom_bot))
    at = clock_time(second.next_attempt_at)  # "09:13:27", dated should it be tomorrow
    assert f"{second.next_attempt_at.astimezone(CHINA):%H:%M:%S}" in at
    timeline = page(client, "console:history", second)
    assert f'<span class="badge waiting" data-status="queued">等待至 {at}</span>' in timeline
    assert "按发送节奏等待" in timeline

    choose_english(client)
    details = page(client, "console:message_trace", second)
    with translation.override("en"):
        at = clock_time(second.next_attempt_at)
    assert f'<span class="badge waiting">Waiting until {at}</span>' in details
    assert "keeping the sending pace" in details


def test_a_wait_that_has_passed_no_longer_says_waiting(
    client,
    make_operator,
    app_bot,
    held,  # noqa: F811
):
    client.force_login(make_operator("alice", app_bot))
    assert "等待至 明天 00:00" in page(client, "console:history", held)  # its bubble is kept
    # Its time came but no worker has taken it yet: it is due, just queued. (Time passes
    # without a write: `updated_at` stays as it was.)
    Message.objects.filter(pk=held.pk).update(
        next_attempt_at=held.next_attempt_at - timedelta(days=2)
    )

    timeline = page(client, "console:history", held)

    assert '<span class="badge queued" data-status="queued">排队中</span>' in timeline
    assert "等待至" not in timeline


@pytest.mark.parametrize("seconds", [27, 0])
def test_a_wait_ending_within_the_hour_shows_its_seconds_once_it_is_near(
    settings, operator_client, group, make_message, seconds
):
    """ "Waiting until 09:13" read at 09:13:05 seemed past: a time within the hour shows
    its seconds, unless it is on a whole minute; a bubble kept from earlier is drawn again."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    until = (timezone.now() + timedelta(hours=3)).replace(second=seconds, microsecond=0)
    waiting = make_message(
        group, direction="out", text="日报", status=Message.Status.QUEUED, next_attempt_at=until
    )
    early_at, near_at = until - timedelta(hours=2), until - timedelta(seconds=22)
    minutes = clock_time(until, now=early_at)  # "09:13", or "明天 00:13" read before midnight
    assert f"{until.astimezone(CHINA):%H:%M}" in minutes and minutes.count(":") == 1
    badge = '<span class="badge waiting" data-status="queued">等待至 {}</span>'

    with time_machine.travel(early_at, tick=False):
        early = page(operator_client, "console:history", waiting)
    with time_machine.travel(near_at, tick=False):
        near = page(operator_client, "console:history", waiting)
        details = page(operator_client, "console:message_trace", waiting)

    assert badge.format(minutes) in early
    shown = clock_time(until, now=near_at)
    assert shown.endswith(f"{until.astimezone(CHINA):%H:%M:%S}" if seconds else minutes[-5:])
    assert badge.format(shown) in near
    assert f'<span class="badge waiting">等待至 {shown}</span>' in details
