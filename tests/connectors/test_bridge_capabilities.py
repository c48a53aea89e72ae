"""Bridge agents say what they send (bridge-protocol.md section 5); botadmin converts the rest.

Given a bridge bot whose agent is a real server on 127.0.0.1 — a v1 agent
without /capabilities, or the demo agent, which announces markdown — the
bodies tools post to a WeCom robot URL are accepted and arrive in a form the
agent announced; the status API says what they were sent as.
"""

import json
from pathlib import Path

import pytest
from django.utils import translation

from botadmin.reasons import translate
from connectors.bridge import V1_MSGTYPES
from connectors.demo_agent import DemoAgent
from conversations.secrets import generate_agent_token
from conversations.services import check_connection, refresh_connector_state
from messaging.delivery import deliver
from messaging.models import Message

BODIES = Path(__file__).parent / "bodies"
GROUP = "wrDemoGroup0001"


def raw(name: str) -> bytes:
    return (BODIES / f"{name}.json").read_bytes()


@pytest.fixture
def v1_agent():
    """An agent of protocol v1: no /capabilities, refuses what is not in the v1 set."""
    with DemoAgent(token=generate_agent_token(), msgtypes=None) as agent:
        yield agent


@pytest.fixture
def bot_of(make_bot, make_conversation):
    def make(agent):
        bot = make_bot(agent_url=agent.url, agent_token=agent.token)
        make_conversation(bot, GROUP)
        refresh_connector_state(bot)  # what a contact sync does first
        return bot

    return make


def send_and_deliver(client, bot, data: bytes) -> dict:
    """POST /api/send, run the delivery, and answer the status API's view of the message."""
    answer = client.post(
        "/api/send",
        data=data,
        content_type="application/json",
        query_params={"secret": bot.secret, "conversation_id": GROUP},
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["errcode"] == 0
    msgid = answer.json()["msgid"]
    deliver(Message.objects.get(msgid=msgid).pk)
    status = client.get(f"/api/messages/{msgid}", {"secret": bot.secret}).json()
    return status["message"]


def arrived(agent, msgid: str) -> list[dict]:
    """What the agent sent for a message: its parts in order, without the protocol's envelope."""
    parts = [agent.sent[i].body for i in sorted(agent.sent) if i.split("-")[0] == msgid]
    return [{k: v for k, v in p.items() if k not in ("id", "conversation_id")} for p in parts]


@pytest.mark.parametrize(
    "name", ["gitea_push_markdown", "grafana_alert_markdown", "markdown_v2_table"]
)
def test_markdown_reaches_a_v1_agent_as_text_and_the_status_api_says_so(
    client, bot_of, v1_agent, name
):
    bot = bot_of(v1_agent)
    original = json.loads(raw(name))

    status = send_and_deliver(client, bot, raw(name))

    assert status["status"] == "sent"
    assert status["msgtype"] == original["msgtype"] and status["sent_as"] == "text"
    assert status["conversion"] == f"sent as text: this connector has no {original['msgtype']}"
    (part,) = arrived(v1_agent, status["msgid"])
    assert part["msgtype"] == "text" and "<font" not in part["text"]["content"]


def test_news_reaches_a_v1_agent_as_one_link_per_article(client, bot_of, v1_agent):
    bot = bot_of(v1_agent)

    status = send_and_deliver(client, bot, raw("news_three_articles"))

    assert status["status"] == "sent" and status["sent_as"] == "link"
    parts = arrived(v1_agent, status["msgid"])
    assert [p["msgtype"] for p in parts] == ["link", "link", "link"]
    assert parts[2]["link"] == {
        "title": "Hiring: two backend engineers",
        "url": "https://example.com/jobs",
    }


def test_a_v1_agent_is_asked_and_keeps_the_v1_set(bot_of, v1_agent):
    bot = bot_of(v1_agent)
    assert sorted(bot.connector_state["msgtypes"]) == sorted(V1_MSGTYPES)


@pytest.mark.parametrize("name", ["gitea_push_markdown", "grafana_alert_markdown"])
def test_an_agent_announcing_markdown_gets_the_body_unchanged(client, bot_of, agent, name):
    bot = bot_of(agent)
    original = json.loads(raw(name))

    status = send_and_deliver(client, bot, raw(name))

    assert status["status"] == "sent" and status["sent_as"] == "markdown"
    assert status["conversion"] == ""
    assert arrived(agent, status["msgid"]) == [
        {"msgtype": "markdown", "markdown": original["markdown"]}
    ]


def test_test_the_connection_reads_the_capabilities_again(bot_of, agent, superuser):
    bot = bot_of(agent)
    agent.msgtypes = ("text", "link", "image", "miniprogram", "markdown", "news")

    ok, text = check_connection(bot, superuser)

    bot.refresh_from_db()
    assert ok and "News card" in text  # in words, as the page's capabilities line
    assert "news" in bot.connector_state["msgtypes"]


def test_an_agent_that_announces_less_later_gets_the_message_converted_at_delivery(
    client, bot_of, agent
):
    bot = bot_of(agent)  # announces markdown when the message is accepted
    answer = client.post(
        "/api/send",
        data=raw("grafana_alert_markdown"),
        content_type="application/json",
        query_params={"secret": bot.secret, "conversation_id": GROUP},
    )
    agent.msgtypes = None  # …and is a v1 agent by the time the message leaves
    refresh_connector_state(bot)

    message = Message.objects.get(msgid=answer.json()["msgid"])
    deliver(message.pk)

    message.refresh_from_db()
    assert message.status == "sent" and message.sent_as == "text"
    assert arrived(agent, message.msgid)[0]["msgtype"] == "text"


def test_a_link_reaches_an_agent_that_sends_only_text_as_its_title_link_and_description(
    client, bot_of
):
    with DemoAgent(token=generate_agent_token(), msgtypes=("text",)) as text_only:
        bot = bot_of(text_only)
        body = {"title": "周报", "url": "https://example.com/r", "desc": "本周进展"}

        status = send_and_deliver(client, bot, json.dumps({"msgtype": "link", "link": body}))

        assert status["status"] == "sent" and status["sent_as"] == "text"
        ((part),) = arrived(text_only, status["msgid"])
    assert part["msgtype"] == "text"
    assert "周报" in part["text"]["content"] and "https://example.com/r" in part["text"]["content"]
    assert part["text"]["content"].endswith("本周进展")


def test_a_message_no_longer_sendable_when_it_leaves_fails_saying_what_the_agent_sends(
    client, make_bot, make_conversation
):
    """Accepted while the agent announced files; the agent is a v1 agent by delivery time:
    no conversion reaches what it sends, so the message fails at once (not stuck, not
    retried) and says why."""
    with DemoAgent(token=generate_agent_token(), msgtypes=(*V1_MSGTYPES, "file")) as agent:
        bot = make_bot(agent_url=agent.url, agent_token=agent.token)
        make_conversation(bot, GROUP)
        refresh_connector_state(bot)
        body = {"msgtype": "file", "file": {"url": "https://example.com/r.pdf"}}
        answer = client.post(
            "/api/send",
            data=body,
            content_type="application/json",
            query_params={"secret": bot.secret, "conversation_id": GROUP},
        )
        assert answer.json()["errcode"] == 0, answer.json()
        agent.msgtypes = None
        refresh_connector_state(bot)

        message = Message.objects.get(msgid=answer.json()["msgid"])
        assert deliver(message.pk).result == "failed"

    message.refresh_from_db()
    assert message.last_error == (
        "msgtype file cannot be sent by a Bridge agent bot; it sends image, link, miniprogram, text"
    )
    with translation.override("zh-hans"):
        assert translate(message.last_error).startswith("桥接代理无法发送 msgtype file；")
    assert agent.send_requests == []
