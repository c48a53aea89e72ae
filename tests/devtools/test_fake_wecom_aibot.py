"""The fake AI bot server refuses what WeCom refuses, so a wrong frame of ours fails in tests.

Driven by a bare WebSocket client, frame by frame, as Tencent's SDK talks to WeCom.
"""

import base64
import hashlib
import json
import time
import uuid
from contextlib import contextmanager

import pytest
from websockets.sync.client import connect

from devtools.fake_wecom_aibot import FakeAIBotServer

KB = 1024


class Client:
    def __init__(self, ws):
        self.ws = ws

    def request(self, cmd: str, body: dict, req_id: str = "") -> dict:
        req_id = req_id or f"{cmd}_{uuid.uuid4().hex}"
        self.ws.send(json.dumps({"cmd": cmd, "headers": {"req_id": req_id}, "body": body}))
        while True:
            frame = json.loads(self.ws.recv(5))
            if frame["headers"]["req_id"] == req_id and "errcode" in frame:
                return frame

    def init(self, data: bytes, chunks: int, **fields) -> dict:
        body = {"type": "file", "filename": "a.bin", "total_size": len(data),
                "total_chunks": chunks, "md5": hashlib.md5(data).hexdigest(), **fields}  # fmt: skip
        return self.request("aibot_upload_media_init", body)

    def chunk(self, upload_id: str, index: int, data: bytes) -> dict:
        body = {"upload_id": upload_id, "chunk_index": index,
                "base64_data": base64.b64encode(data).decode()}  # fmt: skip
        return self.request("aibot_upload_media_chunk", body)

    def finish(self, upload_id: str) -> dict:
        return self.request("aibot_upload_media_finish", {"upload_id": upload_id})

    def upload(self, data: bytes, kind: str = "file") -> str:
        upload_id = self.init(data, 1, type=kind)["body"]["upload_id"]
        assert self.chunk(upload_id, 0, data)["errcode"] == 0
        return self.finish(upload_id)["body"]["media_id"]


@contextmanager
def subscribed(url: str, bot_id: str, secret: str):
    with connect(url) as ws:
        client = Client(ws)
        ack = client.request("aibot_subscribe", {"bot_id": bot_id, "secret": secret})
        assert ack["errcode"] == 0, ack
        yield client


@pytest.fixture
def server():
    with FakeAIBotServer({"bot1": "secret1", "bot2": "secret2"}) as server:
        yield server


@pytest.fixture
def client(server):
    with subscribed(server.url, "bot1", "secret1") as client:
        yield client


def test_an_upload_in_512_kb_chunks_counted_from_zero_gives_a_media_id(client, server):
    data = bytes(range(256)) * (5 * KB)  # 1,280 KB: 512 + 512 + 256
    upload_id = client.init(data, 3)["body"]["upload_id"]
    for index in (2, 0, 1):  # Tencent's SDK sends chunks concurrently, in any order
        part = data[index * 512 * KB : (index + 1) * 512 * KB]
        assert client.chunk(upload_id, index, part)["errcode"] == 0

    finished = client.finish(upload_id)

    assert finished["errcode"] == 0 and finished["body"]["type"] == "file"
    (upload,) = server.uploads.values()
    assert upload["data"] == data and upload["media_id"] == finished["body"]["media_id"]


@pytest.mark.parametrize(
    ("fields", "errcode", "words"),
    [
        ({"type": "sticker"}, 40004, "invalid media type"),
        ({"type": ""}, 40004, "invalid media type"),
        ({"filename": ""}, 40058, "filename"),
        ({"total_chunks": 0}, 40058, "total_chunks"),
        ({"total_chunks": 101, "total_size": 101 * 512 * KB}, 40058, "total_chunks"),
        ({"total_chunks": "1"}, 40058, "total_chunks"),
        ({"total_chunks": 1, "total_size": 512 * KB + 1}, 40058, "total_size"),
        ({"total_chunks": 30, "total_size": 20}, 40058, "total_size"),
        ({"total_size": 5}, 40006, "invalid file size"),
        ({"type": "voice", "total_chunks": 5, "total_size": 2 * 1024 * KB + 1}, 40006, "size"),
        ({"md5": "not-an-md5"}, 40058, "md5"),
    ],
)
def test_an_upload_init_wecom_would_refuse_is_refused(client, fields, errcode, words):
    ack = client.init(b"0123456789", 1, **fields)

    assert ack["errcode"] == errcode and words in ack["errmsg"], ack
    assert "body" not in ack


@pytest.mark.parametrize(
    ("index", "data", "words"),
    [
        (2, b"x" * 10, "chunk_index must be 0 to 1"),  # 1-based: the last chunk is out of range
        (-1, b"x" * 10, "chunk_index"),
        (0, b"x" * (512 * KB + 1), "512 KB"),
        (0, b"", "512 KB"),
    ],
)
def test_a_chunk_out_of_range_or_over_512_kb_is_refused(client, index, data, words):
    upload_id = client.init(b"0123456789" * 60000, 2)["body"]["upload_id"]

    ack = client.chunk(upload_id, index, data)

    assert ack["errcode"] == 40058 and words in ack["errmsg"], ack


def test_a_chunk_that_is_not_base64_or_of_an_unknown_upload_is_refused(client):
    upload_id = client.init(b"0123456789", 1)["body"]["upload_id"]
    body = {"upload_id": upload_id, "chunk_index": 0, "base64_data": "not base64!"}
    assert "base64_data" in client.request("aibot_upload_media_chunk", body)["errmsg"]
    assert "upload_id" in client.chunk("no-such-upload", 0, b"0123456789")["errmsg"]


def test_a_finish_is_refused_while_a_chunk_is_missing_or_the_bytes_disagree(client):
    data = b"0123456789"
    missing = client.init(data, 2)["body"]["upload_id"]
    client.chunk(missing, 0, data[:5])
    assert "chunk 1 missing" in client.finish(missing)["errmsg"]

    short = client.init(data, 1)["body"]["upload_id"]
    client.chunk(short, 0, data[:9])
    assert "total_size" in client.finish(short)["errmsg"]

    changed = client.init(data, 1)["body"]["upload_id"]
    client.chunk(changed, 0, b"9876543210")
    assert "md5" in client.finish(changed)["errmsg"]


def test_a_media_id_works_only_for_the_bot_that_uploaded_it_and_its_type(client, server):
    media_id = client.upload(b"%PDF-1.4 report")
    send = {"chatid": "wrGroupA", "msgtype": "file", "file": {"media_id": media_id}}
    with subscribed(server.url, "bot2", "secret2") as other:
        assert other.request("aibot_send_msg", send)["errcode"] == 40007
    as_image = {**send, "msgtype": "image", "image": {"media_id": media_id}}
    assert client.request("aibot_send_msg", as_image)["errcode"] == 40007
    assert client.request("aibot_send_msg", send)["errcode"] == 0


@pytest.mark.parametrize(
    ("send", "words"),
    [
        ({"msgtype": "markdown", "markdown": {"content": "hi"}}, "chatid"),
        ({"chatid": "", "msgtype": "markdown", "markdown": {"content": "hi"}}, "chatid"),
        (
            {"chatid": "g", "chat_type": 3, "msgtype": "markdown", "markdown": {"content": "hi"}},
            "chat_type",
        ),  # fmt: skip
        (
            {"chatid": "g", "msgtype": "markdown", "markdown": {"content": "字" * 6827}},
            "longer than 20480 bytes",
        ),  # 20,481 bytes  # fmt: skip
        ({"chatid": "g", "msgtype": "markdown", "markdown": {"content": ""}}, "empty"),
        ({"chatid": "g", "msgtype": "markdown", "markdown": {}}, "markdown.content"),
    ],
)
def test_a_send_without_chatid_or_with_markdown_wecom_refuses_is_refused(client, send, words):
    ack = client.request("aibot_send_msg", send)

    assert ack["errcode"] == 40058 and words in ack["errmsg"], ack


def test_markdown_of_exactly_20480_bytes_is_sent(client, server):
    content = "字" * 6826 + "ab"  # 20,478 + 2 bytes
    ack = client.request("aibot_send_msg", {"chatid": "g", "msgtype": "markdown",
                                            "markdown": {"content": content}})  # fmt: skip
    assert ack["errcode"] == 0 and server.sent[0][2]["markdown"]["content"] == content


@pytest.mark.parametrize(
    ("reply", "errcode", "words"),
    [
        ({"msgtype": "text", "text": {"content": "hi"}}, 40008, "message type"),
        ({"msgtype": "stream", "stream": {"finish": True, "content": "hi"}}, 40058, "stream.id"),
        ({"msgtype": "stream", "stream": {"id": "", "content": "hi"}}, 40058, "stream.id"),
        (
            {"msgtype": "stream", "stream": {"id": "s", "content": "x" * 20481}},
            40058,
            "stream.content longer than 20480 bytes",
        ),  # fmt: skip
        (
            {"msgtype": "stream", "stream": {"id": "s", "finish": False, "msg_item": []}},
            40058,
            "msg_item",
        ),  # fmt: skip
    ],
)
def test_a_reply_with_an_unknown_msgtype_or_a_stream_wecom_refuses_is_refused(
    client, server, reply, errcode, words
):
    req_id = server.push_message("bot1", {"msgid": "m1", "chattype": "single",
                                          "from": {"userid": "lisi"}, "msgtype": "text",
                                          "text": {"content": "hello"}})  # fmt: skip
    ack = client.request("aibot_respond_msg", reply, req_id=req_id)

    assert ack["errcode"] == errcode and words in ack["errmsg"], ack
    assert server.sent == []


def test_a_finished_stream_with_its_id_answers_the_message(client, server):
    req_id = server.push_message("bot1", {"msgid": "m1", "chattype": "single",
                                          "from": {"userid": "lisi"}, "msgtype": "text",
                                          "text": {"content": "hello"}})  # fmt: skip
    reply = {"msgtype": "stream", "stream": {"id": "s1", "finish": True, "content": "x" * 20480}}

    assert client.request("aibot_respond_msg", reply, req_id=req_id)["errcode"] == 0
    assert server.sent == [("bot1", "aibot_respond_msg", {"req_id": req_id, **reply})]


@pytest.mark.parametrize("card_type", ["text_notice", "multiple_interaction"])
def test_a_card_of_an_ai_bot_card_type_is_sent(client, server, card_type):
    card = {"card_type": card_type, "task_id": f"t-{card_type}"}
    send = {"chatid": "g", "msgtype": "template_card", "template_card": card}

    assert client.request("aibot_send_msg", send)["errcode"] == 0


@pytest.mark.parametrize("task_id", ["deploy 7", "部署-7", "a/b", 7])
def test_a_card_whose_task_id_has_characters_wecom_does_not_take_is_refused(
    client, server, task_id
):
    card = {"card_type": "text_notice", "task_id": task_id}
    send = {"chatid": "g", "msgtype": "template_card", "template_card": card}

    ack = client.request("aibot_send_msg", send)

    assert (ack["errcode"], ack["errmsg"]) == (40058, "invalid parameter: template_card.task_id")
    assert server.sent == []


@pytest.mark.parametrize("card", [{"card_type": "news"}, {}, None])
def test_a_card_without_an_ai_bot_card_type_is_refused_in_a_send_a_reply_and_a_welcome(
    client, server, card
):
    body = {"msgtype": "template_card", "template_card": card}
    enter = {"msgid": "e1", "msgtype": "event", "from": {"userid": "lisi"},
             "event": {"eventtype": "enter_chat"}}  # fmt: skip
    welcome_req_id = server.push("bot1", "aibot_event_callback", enter)
    message_req_id = server.push_message("bot1", {"msgid": "m1", "chattype": "single",
                                                  "from": {"userid": "lisi"}, "msgtype": "text",
                                                  "text": {"content": "hello"}})  # fmt: skip

    acks = [
        client.request("aibot_send_msg", {"chatid": "g", **body}),
        client.request("aibot_respond_msg", body, req_id=message_req_id),
        client.request("aibot_respond_welcome_msg", body, req_id=welcome_req_id),
    ]

    assert [(a["errcode"], a["errmsg"]) for a in acks] == [
        (40058, "invalid parameter: template_card.card_type")
    ] * 3
    assert server.sent == []


@pytest.mark.parametrize("command", ["aibot_respond_msg", "aibot_respond_welcome_msg"])
def test_an_enter_chat_takes_its_card_within_its_five_seconds_whichever_command_answers(
    client, server, command
):
    # wecom-aibot.md: enter_chat is answered within 5 s; a card may answer it through
    # aibot_respond_msg too (Tencent's SDK, replyTemplateCard), but not for a message's window.
    server.welcome_seconds = 0.2
    enter = {"msgid": "e1", "msgtype": "event", "from": {"userid": "lisi"},
             "event": {"eventtype": "enter_chat"}}  # fmt: skip
    card = {"msgtype": "template_card",
            "template_card": {"card_type": "text_notice", "main_title": {"title": "hi"}}}  # fmt: skip
    in_time = server.push("bot1", "aibot_event_callback", enter)
    assert client.request(command, card, req_id=in_time)["errcode"] == 0
    late = server.push("bot1", "aibot_event_callback", {**enter, "msgid": "e2"})
    time.sleep(0.3)  # past the 5 s, made 0.2 s

    ack = client.request(command, card, req_id=late)

    assert (ack["errcode"], ack["errmsg"]) == (846605, "invalid req_id")
    assert [body["req_id"] for _, _, body in server.sent] == [in_time]


def test_acks_name_their_command_when_asked(client, server):
    server.ack_with_cmd = True

    ack = client.request("ping", {})

    assert ack["cmd"] == "ping" and ack["errcode"] == 0
