"""Frames that name a key twice: Python's json keeps the last value, other readers the
first. One whose values differ is refused (logged, neither stored nor taken as an ack);
one that repeats a key with the same value is read (connectors/wecom_aibot_frames.py,
`read_frame`)."""

import logging

import pytest

from connectors import aibot_link
from connectors.base import Outcome
from connectors.registry import connector_for
from connectors.wecom_aibot_frames import RepeatedKey, read_frame
from conversations.models import Conversation
from messaging.models import Message
from tests.polling import wait_until

CALLBACK = (
    '{"cmd": "aibot_msg_callback", "headers": {"req_id": "cb_1"}, "body": {'
    '"msgid": "%(msgid)s", "aibotid": "bot1", "chattype": "group", %(chatids)s, '
    '"from": {"userid": "zhangsan"}, "msgtype": "text", "text": {"content": "@助手 hi"}}}'
)


def inbound():
    return Message.objects.filter(direction=Message.Direction.IN).order_by("pk")


def test_a_key_named_twice_with_different_values_is_refused_at_any_depth():
    for text in (
        '{"cmd": "ping", "cmd": "aibot_msg_callback"}',
        '{"headers": {"req_id": "a", "req_id": "b"}, "errcode": 0}',
        '{"body": {"event": {"eventtype": "enter_chat", "eventtype": "disconnected_event"}}}',
    ):
        with pytest.raises(RepeatedKey):
            read_frame(text)


def test_a_key_named_twice_with_the_same_value_is_read():
    assert read_frame('{"errcode": 0, "errcode": 0, "headers": {"req_id": "a"}}') == {
        "errcode": 0,
        "headers": {"req_id": "a"},
    }


def test_a_callback_naming_its_chat_twice_is_not_stored_and_the_next_one_is(
    aibot_server, aibot, connected, caplog
):
    caplog.set_level(logging.WARNING, logger="connectors")
    twice = '"chatid": "wrGroupA", "chatid": "wrGroupB"'
    aibot_server.push_raw("bot1", CALLBACK % {"msgid": "m1", "chatids": twice})
    aibot_server.push_raw("bot1", CALLBACK % {"msgid": "m2", "chatids": '"chatid": "wrGroupA"'})

    # The second is stored after the first was read: then the first was not stored.
    assert wait_until(lambda: inbound().filter(upstream_msgid="m2").exists(), timeout=30)
    assert [m.upstream_msgid for m in inbound()] == ["m2"]
    assert any("'chatid' twice" in record.getMessage() for record in caplog.records)
    assert not Conversation.objects.filter(conversation_id="wrGroupB").exists()


def test_a_callback_repeating_a_key_with_the_same_value_is_stored(aibot_server, aibot, connected):
    same = '"chatid": "wrGroupA", "chatid": "wrGroupA"'
    aibot_server.push_raw("bot1", CALLBACK % {"msgid": "m1", "chatids": same})

    assert wait_until(lambda: inbound().count() == 1, timeout=30)
    assert inbound().get().conversation.conversation_id == "wrGroupA"


def test_an_ack_naming_its_errcode_twice_leaves_the_send_uncertain(
    aibot_server, aibot, connected, monkeypatch
):
    """WeCom took the send; its ack says 0 and then 40008. Read last-wins, the message would
    be failed for good although it is in the chat: it is uncertain, as with a lost ack."""
    monkeypatch.setattr(aibot_link, "ACK_TIMEOUT", 0.3)
    group = Conversation.objects.create(bot=aibot, conversation_id="wrGroupA", kind="group")
    aibot_server.ack_repeating = ("errcode", 40008)

    result = connector_for(aibot).send(
        "m1", group, {"msgtype": "markdown", "markdown": {"content": "x"}}
    )

    assert [cmd for _, cmd, _ in aibot_server.sent] == ["aibot_send_msg"]
    assert result.outcome == Outcome.UNCERTAIN, result
