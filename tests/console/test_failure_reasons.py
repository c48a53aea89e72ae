"""Why a message failed, on its console page, in the operator's language: Chinese by
default, English when chosen; what the other side said (WeCom's errmsg, an agent's answer)
verbatim; a reason stored as plain English before reasons were translatable still shown."""

import pytest
from django.urls import reverse

from messaging.delivery import deliver

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
    assert "无法连接代理：ConnectionError" in page  # the attempt's answer and the last error
    assert page.count("无法连接代理") == 2 and "agent unreachable" not in page
    choose_english(client)
    page = trace(client, message)
    assert "agent unreachable: ConnectionError" in page and "无法连接代理" not in page


def test_an_agents_answer_is_quoted_verbatim_inside_the_translated_reason(
    agent, bridge_group, queue_message, clock, login
):
    client = login(bridge_group.bot)
    agent.behaviour.raw_answer = (503, b"upstream overloaded")
    message = queue_message(bridge_group, TEXT)

    deliver(message.pk, clock)

    assert "代理繁忙或不可用（HTTP 503）：upstream overloaded" in trace(client, message)
    choose_english(client)
    assert "agent busy or down (HTTP 503): upstream overloaded" in trace(client, message)


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
    assert "gave up after 1 attempts: forced by the test" in trace(client, message)


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
    assert "代理拒绝了 botadmin 的令牌（HTTP 401），请检查 agent_token" in bot_page.content.decode()
