"""A JSON body naming a key twice in one object is refused by every endpoint that reads
one (/api/send, /api/callback): 40035 naming where, nothing stored. Python's json took
the last of the two silently, so `"text"` twice sent the second text."""

import json

import pytest

from conversations.models import Conversation
from messaging.models import Message

from .support import callback_body

TEXT_TWICE = '{"msgtype": "text", "text": {"content": "a"}, "text": {"content": "b"}}'
CONTENT_TWICE = '{"msgtype": "text", "text": {"content": "a", "content": "b"}}'
# The same value twice is refused too: I-JSON (RFC 7493) says a name MUST be unique.
SAME_VALUE_TWICE = '{"msgtype": "text", "msgtype": "text", "text": {"content": "a"}}'
NEWS_TITLE_TWICE = json.dumps(
    {"msgtype": "news", "news": {"articles": [{"title": "t", "url": "https://example.com/"}]}}
).replace('"title": "t"', '"title": "t", "title": "u"')


def refused_for_a_repeat(response, where: str) -> None:
    assert response.status_code == 400, response.content
    assert response.json() == {
        "errcode": 40035,
        "errmsg": f"invalid parameter: duplicate key in JSON body: {where}",
    }
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "raw, where",
    [
        (TEXT_TWICE, "text"),
        (CONTENT_TWICE, "text.content"),
        (SAME_VALUE_TWICE, "msgtype"),
        (NEWS_TITLE_TWICE, "news.articles.0.title"),
    ],
    ids=["top level", "nested", "same value", "in a list"],
)
def test_send_refuses_a_key_given_twice_at_any_depth(send, bot, group, raw, where):
    refused_for_a_repeat(send(bot.secret, "wrGroup1", raw), where)


def test_send_names_an_unprintable_or_long_key_escaped_and_cut(send, bot, group):
    key = "\x1b[31m" + "k" * 100
    raw = '{"msgtype": "text", "text": {"content": "a"}, "K": 1, "K": 2}'.replace(
        "K", json.dumps(key)[1:-1]
    )

    refused_for_a_repeat(send(bot.secret, "wrGroup1", raw), "\\x1b[31m" + "k" * 59 + "…")


def _callback_raw(bot, replace: str, by: str) -> bytes:
    raw = json.dumps(callback_body("text", bot), ensure_ascii=False)
    assert replace in raw
    return raw.replace(replace, by, 1).encode()


@pytest.mark.parametrize(
    "replace, by, where",
    [
        ('"sender": ', '"sender": "lisi", "sender": ', "sender"),
        ('"content": ', '"content": "a", "content": ', "text.content"),
        ('"msgtype": "text"', '"msgtype": "text", "msgtype": "text"', "msgtype"),
    ],
    ids=["top level", "nested", "same value"],
)
def test_callback_refuses_a_key_given_twice_at_any_depth(bot, post_callback, replace, by, where):
    raw = _callback_raw(bot, replace, by)

    refused_for_a_repeat(post_callback(None, raw=raw, query=f"?secret={bot.secret}"), where)
    assert not Conversation.objects.exists()


def test_callback_refuses_a_body_secret_given_twice_rather_than_take_the_last(bot, post_callback):
    """A body that names `secret` twice offers none, as a body that cannot be read: without
    the query's it is 93000; with it, the repeat is named."""
    raw = _callback_raw(bot, '"secret": ', '"secret": "wrong", "secret": ')

    response = post_callback(None, raw=raw)
    assert response.status_code == 401 and response.json()["errcode"] == 93000
    assert not Message.objects.exists()

    refused_for_a_repeat(post_callback(None, raw=raw, query=f"?secret={bot.secret}"), "secret")
    assert not Conversation.objects.exists()


def test_send_and_callback_answer_a_repeat_alike(bot, group, post_callback, send):
    raw = '{"a": {"b": [{"c": 1, "c": 1}]}}'

    from_send = send(bot.secret, group.conversation_id, raw)
    from_callback = post_callback(None, raw=raw.encode(), query=f"?secret={bot.secret}")

    refused_for_a_repeat(from_send, "a.b.0.c")
    refused_for_a_repeat(from_callback, "a.b.0.c")


def test_the_openapi_description_states_the_rule(client):
    description = client.get("/api/openapi.json").json()["info"]["description"]

    assert "an object names a key twice, even with the same value, is refused" in description
