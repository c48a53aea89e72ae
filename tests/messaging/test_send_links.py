"""Links without a scheme through /api/send: WeCom's robot documents `"url": "www.qq.com"`.

Given a body written for WeCom's robot, whose link is a bare host[/path], the
robot gets the link as written, a bridge agent `http://` + it; a URL with any
other scheme is refused, and picture URLs, which botadmin downloads, must still
be http(s).
"""

import json
from pathlib import Path

import pytest

from messaging.models import Message

FIXTURES = Path(__file__).parent / "fixtures"


def accepted(answer) -> Message:
    assert answer.status_code == 200, answer.content
    return Message.objects.get(msgid=answer.json()["msgid"])


def arrived_at_agent(agent, message: Message) -> list[dict]:
    """The msgtype objects the agent got for a message, in order."""
    parts = [agent.sent[i].body for i in sorted(agent.sent) if i.split("-")[0] == message.msgid]
    return [{"msgtype": p["msgtype"], p["msgtype"]: p[p["msgtype"]]} for p in parts]


def test_wecoms_own_news_example_reaches_the_robot_unchanged(
    send, wecom, wecom_bot, wecom_group, run_queue
):
    example = json.loads((FIXTURES / "wecom_doc_news.json").read_text())

    message = accepted(send(wecom_bot.secret, "wrSales", example))
    run_queue()

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.body == example
    ((key, posted),) = wecom.messages
    assert key == "key-sales"
    assert posted["news"]["articles"] == example["news"]["articles"]
    assert posted["news"]["articles"][0]["url"] == "www.qq.com"


def test_a_link_without_a_scheme_reaches_the_robot_as_written(
    send, wecom, wecom_bot, wecom_group, run_queue
):
    link = {"title": "周报", "url": "work.example.com/reports?week=7", "desc": "本周进展"}

    accepted(send(wecom_bot.secret, "wrSales", {"msgtype": "link", "link": link}))
    run_queue()

    ((_, posted),) = wecom.messages
    assert posted["news"]["articles"] == [
        {"title": "周报", "url": "work.example.com/reports?week=7", "description": "本周进展"}
    ]


def test_a_bridge_agent_gets_http_and_the_link_the_caller_stored_stays_as_sent(
    send, agent, bridge_bot, bridge_group, run_queue
):
    link = {"msgtype": "link", "link": {"title": "周报", "url": "work.example.com/r"}}
    news = {
        "msgtype": "news",
        "news": {"articles": [{"title": "a", "url": "www.qq.com"}, {"title": "b", "url": "https://b.example"}]},
    }  # fmt: skip

    sent_link = accepted(send(bridge_bot.secret, "wrDemoGroup0001", link))
    sent_news = accepted(send(bridge_bot.secret, "wrDemoGroup0001", news))
    run_queue()

    assert arrived_at_agent(agent, sent_link) == [
        {"msgtype": "link", "link": {"title": "周报", "url": "http://work.example.com/r"}}
    ]
    assert [p["link"]["url"] for p in arrived_at_agent(agent, sent_news)] == [
        "http://www.qq.com",
        "https://b.example",
    ]
    sent_link.refresh_from_db()
    assert sent_link.status == Message.Status.SENT
    assert sent_link.body["link"]["url"] == "work.example.com/r"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "mailto:someone@example.com",
        "//www.qq.com",
        "localhost:8000",
        "www.qq.com/a b",
        "http://[::1",
        "http://www.qq.com:99999999999/",  # was accepted: no port is that large
        "https://www.qq.com:0/a",
        " https://www.qq.com/a",  # was accepted and sent with its space
    ],
)
@pytest.mark.parametrize("msgtype", ["link", "news"])
def test_a_link_with_another_scheme_or_no_host_is_40058_naming_the_field(
    send, wecom_bot, wecom_group, url, msgtype
):
    payload = {"title": "t", "url": url}
    body = {"msgtype": msgtype, msgtype: {"articles": [payload]} if msgtype == "news" else payload}

    answer = send(wecom_bot.secret, "wrSales", body)

    assert answer.status_code == 400
    where = "news.articles.0.url" if msgtype == "news" else "link.url"
    assert answer.json() == {
        "errcode": 40058,
        "errmsg": f"invalid field: {where} must be an http(s) URL or a host name with an "
        "optional path (www.example.com/page)",
    }
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "body, where",
    [
        (
            {"msgtype": "news", "news": {"articles": [{"title": "t", "url": "www.qq.com", "picurl": "www.qq.com/p.png"}]}},
            "news.articles.0.picurl",
        ),
        (
            {"msgtype": "link", "link": {"title": "t", "url": "www.qq.com", "image_url": "www.qq.com/p.png"}},
            "link.image_url",
        ),
        ({"msgtype": "image", "image": {"url": "www.qq.com/p.png"}}, "image.url"),
    ],
)  # fmt: skip
def test_a_picture_url_still_needs_http_or_https(send, wecom_bot, wecom_group, body, where):
    answer = send(wecom_bot.secret, "wrSales", body)

    assert answer.status_code == 400
    assert answer.json() == {
        "errcode": 40058,
        "errmsg": f"invalid field: {where} must be an http(s) URL",
    }
