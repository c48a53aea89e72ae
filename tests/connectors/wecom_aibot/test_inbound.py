"""Callbacks from the fake server are stored through the inbound service, listed and forwarded."""

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from django.core.cache import cache
from standardwebhooks import Webhook

from connectors import aibot_inbound, aibot_inbox, aibot_session
from connectors.wecom_aibot_frames import FrameError, callback_body
from conversations.models import BotConnection
from devtools.receiver import Receiver
from forwarding.drains import forward_and_drain
from forwarding.endpoints import create_deliveries
from messaging.inbound import parse_callback
from messaging.models import Message
from tests.messaging.support import primary_signing_secret
from tests.polling import wait_until

from .support import MESSAGES, MESSAGES_AWAY, messages_refused, rename


def group_text(msgid: str = "m1") -> dict:
    return {
        "msgid": msgid,
        "chatid": "wrGroupA",
        "chattype": "group",
        "from": {"userid": "zhangsan"},
        "create_time": 1_790_000_000,
        "msgtype": "text",
        "text": {"content": "@助手 明天的会议几点？"},
    }


def direct_text(msgid: str = "m2") -> dict:
    return {
        "msgid": msgid,
        "chattype": "single",
        "from": {"userid": "lisi"},
        "msgtype": "text",
        "text": {"content": "你好"},
    }


def inbound():
    return Message.objects.filter(direction=Message.Direction.IN).order_by("pk")


def state(bot) -> str:
    return BotConnection.objects.get(pk=bot.pk).state


def test_group_and_direct_messages_are_stored_listed_and_forwarded_signed_once_each(
    aibot_server, make_aibot, start_gateway, client
):
    with Receiver() as receiver:
        bot = make_aibot(webhook_url=receiver.url("/hook"))
        start_gateway()
        aibot_server.wait_connected("bot1")

        aibot_server.push_message("bot1", group_text())
        aibot_server.push_message("bot1", group_text())  # WeCom repeats a callback
        aibot_server.push_message("bot1", direct_text())
        assert wait_until(lambda: inbound().count() == 2, timeout=30)

        group, direct = inbound()
        assert group.conversation.conversation_id == "wrGroupA"
        assert group.conversation.kind == "group"
        assert group.sender_id == "zhangsan"
        assert group.body["text"] == {
            "content": "明天的会议几点？",
            "raw_content": "@助手 明天的会议几点？",
        }
        assert direct.conversation.conversation_id == "lisi"
        assert direct.conversation.kind == "user"
        groups = client.get("/api/groups", {"secret": bot.secret}).json()["data"]
        users = client.get("/api/users", {"secret": bot.secret}).json()["data"]
        assert [g["conversation_id"] for g in groups] == ["wrGroupA"]
        assert [u["conversation_id"] for u in users] == ["lisi"]

        forward_and_drain(create_deliveries([group.pk, direct.pk]), seconds=0)
        requests = receiver.wait_for(2)
        assert len(requests) == 2
        bodies = [
            Webhook(primary_signing_secret(bot)).verify(r.body.decode(), r.headers)
            for r in requests
        ]  # raises unless signed with the bot's secret
        assert sorted(b["msgid"] for b in bodies) == ["m1", "m2"]
        assert all(b["reply_until"] > b.get("timestamp", 0) for b in bodies)


def test_a_callback_repeated_on_a_new_connection_is_still_stored_once(
    aibot_server, aibot, connected
):
    aibot_server.push_message("bot1", group_text("dup"))
    assert wait_until(lambda: inbound().count() == 1, timeout=30)
    aibot_server.drop("bot1")
    aibot_server.wait_connected("bot1", timeout=10)

    aibot_server.push_message("bot1", group_text("dup"))
    aibot_server.push_message("bot1", direct_text("after"))

    assert wait_until(lambda: inbound().count() == 2, timeout=30)
    assert [m.upstream_msgid for m in inbound()] == ["dup", "after"]


def test_events_are_stored_as_event_messages(aibot_server, aibot, connected):
    aibot_server.push(
        "bot1",
        "aibot_event_callback",
        {
            "msgid": "ev1",
            "chattype": "single",
            "from": {"userid": "lisi"},
            "msgtype": "event",
            "event": {"eventtype": "enter_chat"},
        },
    )
    assert wait_until(lambda: inbound().count() == 1, timeout=30)
    assert inbound()[0].msgtype == "event"
    assert inbound()[0].body["event"] == {"eventtype": "enter_chat"}


def test_a_group_event_without_a_chattype_is_the_groups(aibot_server, aibot, connected):
    """`chatid` comes with group callbacks only; an event's `chattype` is optional."""
    aibot_server.push(
        "bot1",
        "aibot_event_callback",
        {
            "msgid": "ev1",
            "chatid": "wrGroupA",
            "from": {"userid": "lisi"},
            "msgtype": "event",
            "event": {"eventtype": "template_card_event", "event_key": "yes", "task_id": "t1"},
        },
    )
    assert wait_until(lambda: inbound().count() == 1, timeout=30)
    conversation = inbound()[0].conversation
    assert (conversation.conversation_id, conversation.kind) == ("wrGroupA", "group")


def test_a_callback_that_arrives_while_the_database_cannot_take_it_is_stored_once_it_can(
    aibot_server, aibot, connected
):
    """WeCom does not send a callback again: the gateway keeps it until it is stored."""
    with messages_refused():
        aibot_server.push_message("bot1", group_text("while-down"))
        aibot_server.push_message("bot1", direct_text("after-it"))
        time.sleep(1.5)  # a few attempts fail meanwhile

    assert wait_until(lambda: inbound().count() == 2, timeout=10)
    assert [m.upstream_msgid for m in inbound()] == ["while-down", "after-it"]


def waiting_callbacks(client) -> str:
    """What /readyz says of the callbacks the gateways read and did not store yet."""
    return client.get("/readyz").json()["checks"]["aibot_inbox"].get("detail", "")


def test_readiness_counts_the_callbacks_read_and_not_stored_yet_until_they_are(
    aibot_server, aibot, connected, client
):
    cache.delete(aibot_inbox.BACKLOG_KEY)  # another test's gateway may have reported
    with messages_refused():
        aibot_server.push_message("bot1", group_text("while-down"))
        aibot_server.push_message("bot1", direct_text("after-it"))

        waiting = f"2 callbacks read and not stored yet ({socket.gethostname()} 2)"
        assert wait_until(lambda: waiting_callbacks(client) == waiting, timeout=30)

    assert wait_until(lambda: inbound().count() == 2, timeout=10)
    assert wait_until(
        lambda: waiting_callbacks(client) == "0 callbacks read and not stored yet", timeout=30
    )


def test_stopping_the_gateway_first_stores_the_callbacks_it_has_read(
    aibot_server, aibot, connected
):
    with messages_refused():
        aibot_server.push_message("bot1", group_text("read-before-stop"))
        time.sleep(1)  # read, and failing to be stored
        back = threading.Timer(1.5, lambda: rename(MESSAGES_AWAY, MESSAGES))
        back.start()  # the database takes it again while the gateway stops
        connected.stop()
        back.join()

    assert [m.upstream_msgid for m in inbound()] == ["read-before-stop"]


def test_callbacks_the_stopping_gateway_could_not_store_are_stored_by_the_next_one(
    aibot_server, aibot, connected, start_gateway, monkeypatch
):
    monkeypatch.setattr(aibot_session, "STOP_DRAIN_SECONDS", 0.5)
    with messages_refused():
        aibot_server.push_message("bot1", group_text("first"))
        aibot_server.push_message("bot1", direct_text("second"))
        aibot_server.kick("bot1")  # noticed after both callbacks: they were read
        assert wait_until(lambda: state(aibot) == "taken_over", timeout=30)
        connected.stop()  # gives up waiting for the database after 0.5 s

    start_gateway("gateway-b")

    assert wait_until(lambda: inbound().count() == 2, timeout=10)
    assert [m.upstream_msgid for m in inbound()] == ["first", "second"]


def test_a_journal_is_emptied_once_stored_and_deleted_when_its_gateway_stops(
    aibot_server, aibot, connected, settings, monkeypatch
):
    monkeypatch.setattr(aibot_inbox, "EMPTIED_FROM_BYTES", 1)  # 64 KiB: ~100 callbacks
    (journal,) = Path(settings.WECOM_AIBOT_INBOX_DIR).glob("*.inbox")
    aibot_server.push_message("bot1", group_text("m1"))
    aibot_server.push_message("bot1", direct_text("m2"))
    assert wait_until(lambda: inbound().count() == 2, timeout=30)

    assert wait_until(lambda: journal.stat().st_size == 0, timeout=30)
    connected.stop()
    assert list(Path(settings.WECOM_AIBOT_INBOX_DIR).iterdir()) == []


def test_a_journal_left_behind_is_stored_once_and_a_line_cut_by_the_kill_skipped(aibot, tmp_path):
    journal = tmp_path / f"{aibot.pk}-4242-abcd.inbox"
    entries = [
        {"received": 1_790_000_000, "window": 300, "frame": frame(group_text("m1"))},
        {"received": 1_790_000_001, "window": 300, "frame": frame(direct_text("m2"))},
    ]
    lines = [json.dumps(entry) for entry in entries]
    journal.write_text("\n".join([*lines, lines[0][:40]]))
    aibot_inbound.store_frame(aibot, entries[0]["frame"], 1_790_000_000, 300)  # before the kill

    assert aibot_inbox.replay_orphans(tmp_path) == 1

    assert [m.upstream_msgid for m in inbound()] == ["m1", "m2"]
    assert inbound()[1].body["reply_until"] == 1_790_000_301
    assert not journal.exists()


def frame(body: dict) -> dict:
    return {"cmd": "aibot_msg_callback", "headers": {"req_id": "r"}, "body": body}


# --- the mapping, frame by frame ------------------------------------------------------


def mapped(body: dict, cmd: str = "aibot_msg_callback") -> dict:
    frame = {"cmd": cmd, "headers": {"req_id": "r1"}, "body": body}
    return callback_body(frame, reply_until=1_790_000_300).body


def test_voice_is_stored_as_its_transcribed_text():
    body = mapped({**direct_text(), "msgtype": "voice", "voice": {"content": "语音转的文字"}})
    assert body["msgtype"] == "text"
    assert body["text"] == {"content": "语音转的文字"}
    assert body["voice"] == {"content": "语音转的文字"}


def test_mixed_is_stored_as_text_with_its_images_to_fetch():
    items = [
        {"msgtype": "text", "text": {"content": "@助手 看这张图"}},
        {"msgtype": "image", "image": {"url": "https://wecom.example/a", "aeskey": "k"}},
        {"msgtype": "text", "text": {"content": "和这张"}},
    ]
    frame = {
        "cmd": "aibot_msg_callback",
        "headers": {"req_id": "r"},
        "body": {**group_text(), "msgtype": "mixed", "mixed": {"msg_item": items}},
    }
    callback = callback_body(frame, 0)
    assert callback.body["msgtype"] == "text"
    assert callback.body["text"]["content"] == "看这张图\n和这张"
    assert callback.body["mixed"] == {"msg_item": items}
    assert callback.media == [{"kind": "image", "url": "https://wecom.example/a", "aeskey": "k"}]


@pytest.mark.parametrize("msgtype", ["image", "file", "video"])
def test_media_messages_keep_their_object_and_become_references(msgtype):
    obj = {"url": "https://wecom.example/x", "aeskey": "k"}
    body = mapped({**direct_text(), "msgtype": msgtype, msgtype: obj, "text": None})
    assert body[msgtype] == {**obj, "cdn_type": "wecom_aibot", "cdn": "https://wecom.example/x"}


def test_a_direct_text_keeps_a_leading_at_sign_and_names_come_when_wecom_gives_them():
    body = mapped(
        {
            **direct_text(),
            "text": {"content": "@all 不是提及"},
            "from": {"userid": "u", "name": "张三"},
        }
    )
    assert body["text"] == {"content": "@all 不是提及"}
    assert body["sender_name"] == "张三"


def test_a_callback_without_conversation_is_refused():
    with pytest.raises(FrameError):
        mapped({"msgid": "x", "msgtype": "text", "text": {"content": "?"}})


def test_the_stored_body_is_valid_json_for_the_inbound_service():
    assert json.loads(json.dumps(mapped(group_text())))["conversation_type"] == "group"


@pytest.mark.parametrize(
    ("create_time", "timestamp"),
    [
        (1_790_000_000, 1_790_000_000),  # seconds
        (1_790_000_000_123, 1_790_000_000),  # milliseconds: whole seconds
        (1_790_000_000.9, 1_790_000_000),
        (True, None),  # no time: left out, the message kept
        (-5, None),
        (float("inf"), None),
        ("1790000000", None),
    ],
)
def test_create_time_becomes_unix_seconds_and_a_bad_one_never_refuses_the_message(
    create_time, timestamp
):
    body = mapped({**direct_text(), "create_time": create_time})

    assert body.get("timestamp") == timestamp and type(body.get("timestamp")) is type(timestamp)
    inbound = parse_callback(json.dumps({**body, "secret": "s"}).encode())
    assert inbound.envelope.timestamp == timestamp
