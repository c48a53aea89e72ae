"""Why a message failed or was not forwarded, on its console page, in the operator's
language: Chinese by default, English when chosen; what the other side said (WeCom's errmsg,
an agent's or an endpoint's answer) verbatim; a reason stored as plain English before
reasons were translatable still shown."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from botadmin.reasons import Reason
from conversations.models import SyncRun
from conversations.sync import sync_now
from devtools.receiver import Receiver
from forwarding.endpoint_health import DISABLE_AFTER
from forwarding.models import WebhookDelivery
from forwarding.webhook_delivery import attempt_delivery
from messaging import media_fetch
from messaging.delivery import deliver
from messaging.models import MessageMedia
from messaging.status_labels import clock_time
from tests.messaging.support import callback_body, create_pending_deliveries

TEXT = {"msgtype": "text", "text": {"content": "今晚八点发货"}}


def trace(client, message) -> str:
    url = reverse(
        "console:message_trace", args=[message.bot_id, message.conversation_id, message.pk]
    )
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def choose_english(client) -> None:
    client.post(reverse("set_language"), {"language": "en", "next": "/console/"})


@pytest.fixture
def login(client, make_operator):
    def login(bot):
        client.force_login(make_operator("alice", bot))
        return client

    return login


def test_an_agent_that_cannot_be_reached_is_said_so_in_chinese_then_in_english(
    agent, bridge_group, queue_message, clock, login
):
    client = login(bridge_group.bot)
    agent.go_down()
    message = queue_message(bridge_group, TEXT)

    assert deliver(message.pk, clock).result == "retry"

    page = trace(client, message)
    # The attempt's answer and the last error.
    assert "无法连接代理：127.0.0.1 拒绝了连接" in page
    assert page.count("无法连接代理") == 2 and "agent unreachable" not in page
    assert "ConnectionError" not in page and "Errno" not in page
    choose_english(client)
    page = trace(client, message)
    assert "Agent unreachable: 127.0.0.1 refused the connection" in page
    assert "无法连接代理" not in page


def test_in_english_a_reason_on_its_own_starts_with_a_capital_and_after_a_colon_does_not(
    agent, bridge_group, queue_message, clock, login
):
    """The attempt's answer cell stands alone: "Agent unreachable: …"; the wait's line
    reads on after its colon: "Waiting until …: agent unreachable: …"."""
    client = login(bridge_group.bot)
    agent.go_down()
    message = queue_message(bridge_group, TEXT)
    deliver(message.pk, clock)
    choose_english(client)

    page = trace(client, message)

    assert (
        '<td class="mono answer">Agent unreachable: 127.0.0.1 refused the connection</td>' in page
    )
    assert ": agent unreachable: 127.0.0.1 refused the connection</p>" in page  # the wait's
    choose_chinese = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert choose_chinese.status_code == 302
    assert "无法连接代理：127.0.0.1 拒绝了连接</td>" in trace(client, message)


@pytest.fixture
def delivered_after(agent, bridge_group, queue_message, clock):
    """A message delivered to an agent that answers with (status, body)."""

    def deliver_after(answer: tuple[int, bytes]):
        agent.behaviour.raw_answer = answer
        message = queue_message(bridge_group, TEXT)
        deliver(message.pk, clock)
        return message

    return deliver_after


def test_an_agents_errmsg_is_quoted_verbatim_inside_the_translated_reason(
    bridge_group, delivered_after, login
):
    client = login(bridge_group.bot)
    message = delivered_after((503, b'{"errcode": -1, "errmsg": "upstream overloaded"}'))

    assert "代理繁忙或不可用（HTTP 503）：错误码 -1，upstream overloaded" in trace(client, message)
    choose_english(client)
    page = trace(client, message)
    assert "agent busy or down (HTTP 503): errcode -1, upstream overloaded" in page


def test_an_agents_answer_that_is_no_envelope_is_not_shown_only_its_status(
    bridge_group, delivered_after, login
):
    """It could be any internal service's page, where a bot admin pointed the agent URL."""
    client = login(bridge_group.bot)
    message = delivered_after((503, b"<h1>upstream overloaded</h1>"))

    page = trace(client, message)
    assert "代理繁忙或不可用（HTTP 503）" in page and "upstream overloaded" not in page


def test_wecoms_errmsg_stays_verbatim_and_our_words_around_it_are_translated(
    wecom, wecom_group, queue_message, clock, login, settings
):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    client = login(wecom_group.bot)
    wecom.answer_next(45009)
    message = queue_message(wecom_group, TEXT)

    assert deliver(message.pk, clock).result == "failed"

    page = trace(client, message)
    assert "尝试 1 次后放弃：forced by the test" in page  # the last error
    assert "forced by the test</td>" in page  # the attempt: WeCom's errmsg as it came
    choose_english(client)
    assert "Gave up after 1 attempt: forced by the test" in trace(client, message)


def test_a_gave_up_reason_stored_before_it_had_a_singular_still_translates(
    bot, group, make_message, login
):
    client = login(bot)
    # What rows stored it as: {"reason": "gave up after %(count)s attempts: …", "params": …}
    earlier = Reason("gave up after %(count)s attempts: %(reason)s", count=3, reason="boom")
    message = make_message(group, direction="out", status="failed", last_error=earlier)

    assert "尝试 3 次后放弃：boom" in trace(client, message)
    choose_english(client)
    assert "Gave up after 3 attempts: boom" in trace(client, message)


def test_a_refused_robot_key_shows_wecoms_errmsg_as_it_came(
    wecom, wecom_bot, make_conversation, queue_message, clock, login
):
    client = login(wecom_bot)
    removed = make_conversation(wecom_bot, "wrGone", name="旧群", robot_key="key-removed")
    message = queue_message(removed, TEXT)

    deliver(message.pk, clock)

    assert "invalid webhook url, hint: [" in trace(client, message)


def test_a_reason_stored_as_plain_english_before_still_shows(
    bot, group, make_message, make_attempt, login
):
    client = login(bot)
    message = make_message(
        group, direction="out", status="failed", last_error="gave up after 5 attempts: boom"
    )
    make_attempt(message, outcome="failed", response_text="agent unreachable: ConnectTimeout")

    page = trace(client, message)
    assert "gave up after 5 attempts: boom" in page
    assert "agent unreachable: ConnectTimeout" in page


def test_a_paused_bot_says_why_in_chinese_on_its_page(
    agent, bridge_group, queue_message, clock, login
):
    client = login(bridge_group.bot)
    agent.behaviour.http_status = 401
    deliver(queue_message(bridge_group, TEXT).pk, clock)

    bot_page = client.get(reverse("console:bot", args=[bridge_group.bot_id]))
    assert (
        "代理拒绝了 botadmin 的令牌（HTTP 401），请检查代理令牌（连接器设置）"
        in bot_page.content.decode()
    )


# --- Forwarding ---------------------------------------------------------------------


@pytest.fixture
def forwarded(post_callback, superuser, client):
    """Record one inbound message for the bot and make one forwarding attempt; the
    superuser's client (bot admins see the webhook pages)."""

    def forwarded(bot):
        response = post_callback(callback_body("text", bot, msgid="m-reasons"))
        assert response.json()["errcode"] == 0
        create_pending_deliveries()
        delivery = WebhookDelivery.objects.get(message__bot=bot)
        attempt_delivery(delivery.pk)
        delivery.refresh_from_db()
        client.force_login(superuser)
        return delivery

    return forwarded


def endpoint_page(client, delivery) -> str:
    url = reverse("console:webhook", args=[delivery.endpoint.bot_id, delivery.endpoint_id])
    return client.get(url).content.decode()


def test_an_endpoints_error_answer_is_quoted_in_the_operators_language(
    hooked_bot, receiver, forwarded, client
):
    receiver.respond(503, b"maintenance")

    delivery = forwarded(hooked_bot)

    message_page = trace(client, delivery.message)
    assert "端点返回 HTTP 503：maintenance" in message_page  # the delivery's last error
    assert ">maintenance</td>" in message_page  # the attempt: the endpoint's answer as it came
    page = endpoint_page(client, delivery)
    assert "端点返回 HTTP 503：maintenance" in page and delivery.webhook_id in page
    choose_english(client)
    assert "The endpoint answered HTTP 503: maintenance" in trace(client, delivery.message)


def test_an_endpoint_nobody_listens_on_is_said_so_in_chinese(make_bot, forwarded, client):
    with Receiver() as gone:
        port = gone.port
    bot = make_bot(webhook_url=f"http://127.0.0.1:{port}/hook")

    delivery = forwarded(bot)

    shown = trace(client, delivery.message)
    assert "端点没有应答：127.0.0.1 拒绝了连接" in shown and "no answer from" not in shown
    assert "技术详情" in shown and "ConnectionError: " in shown  # the exception, disclosed
    choose_english(client)
    assert "No answer from the endpoint: 127.0.0.1 refused the connection" in trace(
        client, delivery.message
    )


# An attempt that found nobody listening, as the release before http_failures' words
# stored it (forwarding.attempt_reasons.EARLIER_WORDING), on the attempt and its delivery.
EARLIER_REFUSED = json.dumps(
    {
        "reason": "no answer from the endpoint: %(error)s",
        "params": {
            "error": {
                "reason": "the connection was refused (nothing listens on that port)",
                "params": {},
            },
            "detail": "ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=9): "
            "[Errno 111] Connection refused",
        },
    }
)


def test_an_attempt_worded_by_the_earlier_release_still_reads_in_the_operators_language(
    make_bot, forwarded, client
):
    with Receiver() as gone:
        port = gone.port
    delivery = forwarded(make_bot(webhook_url=f"http://127.0.0.1:{port}/hook"))
    # Written as that release wrote it, past today's ReasonField.
    with connection.cursor() as cursor:
        for table, column, pk in (
            ("messaging_webhookattempt", "response_text", delivery.attempts.get().pk),
            ("messaging_webhookdelivery", "last_error", delivery.pk),
        ):
            cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [EARLIER_REFUSED, pk])

    earlier = "端点没有应答：连接被拒绝（该端口上没有服务在监听）"
    shown = trace(client, delivery.message)
    assert shown.count(earlier) == 2 and "no answer from" not in shown
    assert "[Errno 111] Connection refused</details>" in shown
    assert endpoint_page(client, delivery).count(earlier) == 2
    choose_english(client)
    assert "No answer from the endpoint: the connection was refused (nothing listens" in (
        endpoint_page(client, delivery)
    )


def test_a_forwarding_error_stored_as_plain_english_before_still_shows(
    hooked_bot, receiver, forwarded, client
):
    delivery = forwarded(hooked_bot)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(last_error="HTTP 503: old wording")

    assert "HTTP 503: old wording" in trace(client, delivery.message)


def test_why_an_endpoint_was_disabled_reads_in_chinese_in_the_admin(
    hooked_bot, receiver, forwarded, client
):
    receiver.respond(500, b"down")
    endpoint = hooked_bot.webhook_endpoints.get()
    endpoint.failing_since = timezone.now() - DISABLE_AFTER - timedelta(hours=1)
    endpoint.last_failure_at = timezone.now() - timedelta(hours=2)
    endpoint.failure_streak = 100
    endpoint.save()

    delivery = forwarded(hooked_bot)

    endpoint.refresh_from_db()
    assert endpoint.disabled_at is not None
    url = reverse("admin:forwarding_webhookendpoint_change", args=[endpoint.pk])
    assert (
        "投递持续失败了 3 天：没有一次成功，也从未有 24 小时没有失败。"
        in client.get(url).content.decode()
    )
    assert delivery.status == "pending"  # waits for the endpoint to be re-enabled


def test_a_refused_endpoint_url_says_why_in_the_operators_language(
    hooked_bot, receiver, forwarded, client, settings
):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False  # the receiver listens on 127.0.0.1

    delivery = forwarded(hooked_bot)

    page = trace(client, delivery.message)
    assert "URL 被拒绝：127.0.0.1 解析为 127.0.0.1，这是私有或保留地址" in page
    choose_english(client)
    page = trace(client, delivery.message)
    assert "URL refused: 127.0.0.1 resolves to 127.0.0.1, a private or reserved address" in page


# --- Contact syncs and "Test the connection" ----------------------------------------


def bot_page(client, bot) -> str:
    response = client.get(reverse("console:bot", args=[bot.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_failed_contact_sync_says_why_in_chinese_then_in_english(agent, bridge_bot, login):
    client = login(bridge_bot)
    agent.behaviour.fail_contacts_on_page = 1

    run = sync_now(bridge_bot, SyncRun.Trigger.CONSOLE)

    assert run.outcome == SyncRun.Outcome.FAILED and run.error == "agent answered HTTP 500"
    page = bot_page(client, bridge_bot)
    assert "最近一次联系人同步失败：代理返回 HTTP 500" in page  # why the bot is empty
    assert "<td>代理返回 HTTP 500</td>" in page  # the runs table
    assert "agent answered" not in page
    choose_english(client)
    assert "The last contact sync failed: agent answered HTTP 500" in bot_page(client, bridge_bot)


def test_a_contact_sync_error_stored_as_plain_english_before_still_shows(bridge_bot, login):
    client = login(bridge_bot)
    SyncRun.objects.create(
        bot=bridge_bot, trigger="console", outcome="failed", error="agent answered HTTP 502"
    )

    assert "最近一次联系人同步失败：agent answered HTTP 502" in bot_page(client, bridge_bot)


def test_a_failed_connection_test_says_why_in_the_operators_language(agent, bridge_bot, login):
    client = login(bridge_bot)
    agent.go_down()
    url = reverse("console:bot_test", args=[bridge_bot.pk])

    page = client.post(url, follow=True).content.decode()

    assert "上次测试：失败" in page and "无法连接代理：127.0.0.1 拒绝了连接" in page
    # Where the capabilities would be: not "not asked yet" after a test that failed.
    assert "上次测试失败：无法连接代理：127.0.0.1 拒绝了连接" in page and "尚未查询" not in page
    choose_english(client)
    page = client.post(url, follow=True).content.decode()
    assert (
        "Last test: failed" in page
        and "agent unreachable: 127.0.0.1 refused the connection" in page
    )


def test_the_admins_connection_test_names_each_refused_robot_key_in_chinese(
    wecom, wecom_bot, make_conversation, superuser, client
):
    make_conversation(wecom_bot, "wrGone", name="旧群", robot_key="key-removed")
    client.force_login(superuser)
    changelist = reverse("admin:conversations_bot_changelist")

    response = client.post(
        changelist,
        {"action": "test_connection", "_selected_action": [wecom_bot.pk]},
        follow=True,
    )

    page = response.content.decode()
    # The admin capitalises the bot name.
    assert "：连接失败 — 1 个机器人密钥中有 1 个失败：旧群：93000</li>" in page


# --- Media ----------------------------------------------------------------------------


def history(client, message) -> str:
    url = reverse("console:history", args=[message.bot_id, message.conversation_id])
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_media_the_agent_cannot_get_says_so_in_chinese_then_in_english(
    agent, bridge_bot, post_callback, login
):
    client = login(bridge_bot)
    answer = post_callback(callback_body("image", bridge_bot))  # a cdn the agent does not have
    assert answer.json()["errcode"] == 0
    media = MessageMedia.objects.get(message__bot=bridge_bot)

    assert media_fetch.fetch(media.pk) == "failed"

    page = history(client, media.message)
    assert "无法获取：代理无法获取此媒体（HTTP 404）" in page
    choose_english(client)
    assert "Could not be fetched: the agent cannot get this media (HTTP 404)" in history(
        client, media.message
    )


def test_an_image_that_cannot_be_downloaded_is_named_in_chinese(
    wecom_group, queue_message, receiver, clock, login
):
    client = login(wecom_group.bot)
    receiver.respond(404, b"no such picture")
    message = queue_message(
        wecom_group, {"msgtype": "image", "image": {"url": receiver.url("/a.png")}}
    )

    deliver(message.pk, clock)

    page = trace(client, message)
    assert "下载图片时对方返回 HTTP 404" in page  # "image" is a word here, not the msgtype
    choose_english(client)
    assert "image download answered HTTP 404" in trace(client, message)


def test_the_details_page_says_its_times_as_the_timeline_does_in_both_languages(
    agent, bridge_group, queue_message, clock, login
):
    """The details said "等待至 2026-12-07 08:30:05：…" and an attempt "2026-12-07 08:29:55"
    where the console says "08:30:05" (clock_time) and the timeline's bubble "08:29"."""
    client = login(bridge_group.bot)
    agent.go_down()
    message = queue_message(bridge_group, TEXT)
    deliver(message.pk, clock)
    message.refresh_from_db()
    attempt = message.attempts.get()
    timeline = reverse("console:history", args=[bridge_group.bot_id, bridge_group.pk])

    for language in ("zh-hans", "en"):
        client.post(reverse("set_language"), {"language": language, "next": "/"})
        page = trace(client, message)
        bubble = client.get(timeline).content.decode()
        said = "等待至 " if language == "zh-hans" else "Waiting until "
        with translation.override(language):  # "明天 …" / "… tomorrow" just before midnight
            next_at, tried = clock_time(message.next_attempt_at), clock_time(attempt.started_at)
            created = clock_time(message.created_at)
        assert f"{said}{next_at}" in page
        assert f">{tried}</time></td>" in page
        assert f">{created}</time>" in page
        assert f">{timezone.localtime(message.created_at):%H:%M}</time>" in bubble
        assert created.startswith(f"{timezone.localtime(message.created_at):%H:%M}")
