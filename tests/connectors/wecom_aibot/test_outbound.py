"""Sending through the gateway: the outbox hands each message to the bot's connection."""

import base64
import hashlib
import json
import threading
import time

import pytest
from django.utils import timezone, translation

from botadmin import http
from botadmin.local_http import LocalServer
from botadmin.reasons import translate
from connectors import aibot_link, aibot_sending, wecom_aibot_frames
from connectors.base import Outcome
from connectors.registry import connector_for
from connectors.wecom_aibot import WeComAIBotConnector
from conversations import connections
from conversations.models import Bot, Conversation
from conversations.services import check_connection
from devtools.receiver import Receiver
from messaging.delivery import deliver
from messaging.models import Message
from tests.connectors.test_filenames import NAMES_FROM_URLS
from tests.images import image_bytes
from tests.polling import wait_until

from .support import post_to_gateway

AMR_HEADER = b"#!AMR\n"


@pytest.fixture
def group(aibot):
    return Conversation.objects.create(bot=aibot, conversation_id="wrGroupA", kind="group")


@pytest.fixture
def user(aibot):
    return Conversation.objects.create(bot=aibot, conversation_id="lisi", kind="user")


@pytest.fixture
def post(client):
    def post(bot, conversation_id: str, body: dict):
        return client.post(
            "/api/send",
            data=body,
            content_type="application/json",
            query_params={"secret": bot.secret, "conversation_id": conversation_id},
        )

    return post


def sent_through(post, bot, conversation_id: str, body: dict) -> Message:
    answer = post(bot, conversation_id, body)
    assert answer.json()["errcode"] == 0, answer.json()
    message = Message.objects.get(msgid=answer.json()["msgid"])
    deliver(message.pk)
    message.refresh_from_db()
    return message


def test_a_text_to_a_group_arrives_as_markdown_with_its_characters_escaped(
    aibot_server, aibot, group, connected, post
):
    message = sent_through(
        post, aibot, "wrGroupA", {"msgtype": "text", "text": {"content": "*urgent* 1. do_it"}}
    )

    assert message.status == "sent" and message.sent_as == "markdown"
    assert aibot_server.sent == [
        ("bot1", "aibot_send_msg", {
            "chatid": "wrGroupA", "chat_type": 2, "msgtype": "markdown",
            "markdown": {"content": "\\*urgent\\* 1. do\\_it"},
        }),
    ]  # fmt: skip


def test_markdown_to_a_user_is_a_single_chat_send(aibot_server, aibot, user, connected, post):
    sent_through(post, aibot, "lisi", {"msgtype": "markdown", "markdown": {"content": "**hi**"}})
    _, cmd, body = aibot_server.sent[0]
    assert (body["chatid"], body["chat_type"], body["markdown"]) == (
        "lisi",
        1,
        {"content": "**hi**"},
    )


def test_links_news_and_cards_arrive_as_template_cards(
    aibot_server, aibot, group, connected, post, settings
):
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0
    Bot.objects.filter(pk=aibot.pk).update(rate_limit_per_minute=600)
    sent_through(
        post,
        aibot,
        "wrGroupA",
        {"msgtype": "link", "link": {"title": "Build 7", "url": "https://ci.example/7"}},
    )
    card = {"card_type": "button_interaction", "task_id": "t1", "main_title": {"title": "Deploy?"},
            "button_list": [{"text": "Yes", "key": "yes"}]}  # fmt: skip
    sent_through(post, aibot, "wrGroupA", {"msgtype": "template_card", "template_card": card})

    first, second = (body for _, _, body in aibot_server.sent)
    assert first["msgtype"] == "template_card"
    assert first["template_card"]["card_action"] == {"type": 1, "url": "https://ci.example/7"}
    assert second["template_card"] == card


def test_a_link_written_without_a_scheme_opens_http_from_the_card(
    aibot_server, aibot, group, connected, post
):
    """WeCom's robot opens `www.qq.com` (its documentation's example); a card needs a URL."""
    body = {"msgtype": "news", "news": {"articles": [{"title": "中秋节", "url": "www.qq.com"}]}}

    message = sent_through(post, aibot, "wrGroupA", body)

    assert message.status == "sent" and message.body == body
    ((_, _, sent),) = aibot_server.sent
    assert sent["template_card"]["card_action"] == {"type": 1, "url": "http://www.qq.com"}


def test_news_whose_second_card_wecom_refuses_is_uncertain_saying_which_part(
    aibot_server, aibot, group, connected, post, unpaced
):
    """Two articles go as two cards; the first is in the chat, so sending the message
    again would post it twice: an operator decides instead of a retry."""
    aibot_server.answer_next(None, -1)  # the first card as usual, then WeCom is busy
    articles = [
        {"title": "周报", "url": "https://example.com/1"},
        {"title": "月报", "url": "https://example.com/2"},
    ]

    message = sent_through(
        post, aibot, "wrGroupA", {"msgtype": "news", "news": {"articles": articles}}
    )

    assert message.status == "uncertain"
    assert message.last_error.startswith("part 2 of 2: -1 system busy — it may have been")
    with translation.override("zh-hans"):
        assert translate(message.last_error).startswith("第 2 部分（共 2 部分）：-1 system busy")
    ((_, _, first),) = aibot_server.sent
    assert first["template_card"]["main_title"]["title"] == "周报"


def test_an_image_is_uploaded_in_chunks_then_sent_by_media_id(
    aibot_server, aibot, group, connected, post, monkeypatch
):
    monkeypatch.setattr(aibot_sending, "UPLOAD_CHUNK_BYTES", 64)
    picture = image_bytes(size=(30, 30))
    body = {"msgtype": "image", "image": {"base64": base64.b64encode(picture).decode(),
                                          "md5": hashlib.md5(picture).hexdigest()}}  # fmt: skip
    message = sent_through(post, aibot, "wrGroupA", body)

    assert message.status == "sent"
    init = aibot_server.frames_of("aibot_upload_media_init")[0]["body"]
    assert init["type"] == "image" and init["total_size"] == len(picture)
    assert init["total_chunks"] == len(aibot_server.frames_of("aibot_upload_media_chunk")) > 1
    (upload,) = aibot_server.uploads.values()
    assert upload["data"] == picture
    assert aibot_server.sent[0][2]["image"] == {"media_id": upload["media_id"]}


def test_a_voice_is_uploaded_as_voice_then_sent_by_media_id(
    aibot_server, aibot, group, connected, post
):
    voice = AMR_HEADER + bytes([0x3C]) + bytes(31)  # one 20 ms AMR-NB frame
    body = {"msgtype": "voice", "voice": {"base64": base64.b64encode(voice).decode(),
                                          "md5": hashlib.md5(voice).hexdigest()}}  # fmt: skip
    message = sent_through(post, aibot, "wrGroupA", body)

    assert message.status == "sent" and message.sent_as == "voice"
    init = aibot_server.frames_of("aibot_upload_media_init")[0]["body"]
    assert init["type"] == "voice" and init["total_size"] == len(voice)
    (upload,) = aibot_server.uploads.values()
    assert upload["data"] == voice
    assert aibot_server.sent == [
        ("bot1", "aibot_send_msg", {"chatid": "wrGroupA", "chat_type": 2, "msgtype": "voice",
                                    "voice": {"media_id": upload["media_id"]}}),
    ]  # fmt: skip


def test_a_file_over_512_kb_goes_in_full_chunks_counted_from_zero(
    aibot_server, aibot, group, connected, post
):
    report = bytes(range(256)) * 4500  # 1,152,000 bytes: two full chunks and a part
    body = {"msgtype": "file", "file": {"base64": base64.b64encode(report).decode(),
            "md5": hashlib.md5(report).hexdigest(), "name": "big.bin"}}  # fmt: skip
    message = sent_through(post, aibot, "wrGroupA", body)

    assert message.status == "sent", message.last_error
    init = aibot_server.frames_of("aibot_upload_media_init")[0]["body"]
    assert (init["total_size"], init["total_chunks"]) == (len(report), 3)
    assert init["md5"] == hashlib.md5(report).hexdigest()
    chunks = [frame["body"] for frame in aibot_server.frames_of("aibot_upload_media_chunk")]
    assert [chunk["chunk_index"] for chunk in chunks] == [0, 1, 2]
    sizes = [len(base64.b64decode(chunk["base64_data"])) for chunk in chunks]
    assert sizes == [512 * 1024, 512 * 1024, len(report) - 1024 * 1024]
    (upload,) = aibot_server.uploads.values()
    assert upload["data"] == report


def amr(seconds: float) -> bytes:
    """AMR-NB of `seconds`: 50 frames of 12.2 kbit/s (frame type 7, 32 bytes) a second."""
    return AMR_HEADER + (bytes([0x3C]) + bytes(31)) * int(seconds * 50)


def voice_body(raw: bytes) -> dict:
    return {"msgtype": "voice", "voice": {"base64": base64.b64encode(raw).decode(),
                                          "md5": hashlib.md5(raw).hexdigest()}}  # fmt: skip


def test_a_voice_of_60_seconds_is_sent_and_a_longer_one_refused_when_posted(
    aibot_server, aibot, group, connected, post
):
    assert sent_through(post, aibot, "wrGroupA", voice_body(amr(60))).status == "sent"

    answer = post(aibot, "wrGroupA", voice_body(amr(60.02))).json()

    assert answer["errcode"] == 40058
    assert "voice longer than 60 seconds" in answer["errmsg"]
    assert Message.objects.count() == 1


def test_a_voice_given_by_url_longer_than_60_seconds_fails_without_an_upload(
    aibot_server, aibot, group, connected, post
):
    with Receiver() as host:
        host.respond(200, amr(61), {"Content-Type": "audio/amr"})
        body = {"msgtype": "voice", "voice": {"url": host.url("/note.amr")}}
        message = sent_through(post, aibot, "wrGroupA", body)

    assert (message.status, message.last_error) == ("failed", "voice longer than 60 s")
    with translation.override("zh-hans"):
        assert translate(message.last_error) != "voice longer than 60 s"
    assert not aibot_server.frames_of("aibot_upload_media_init")


def test_wecom_refuses_a_proactive_text_and_the_message_fails_with_its_errcode(
    aibot_server, aibot, group, connected
):
    result = connector_for(aibot).send("m1", group, {"msgtype": "text", "text": {"content": "x"}})
    assert (result.outcome, result.errcode) == (Outcome.FAILED, 40008)


def test_a_send_without_an_ack_is_uncertain(aibot_server, aibot, group, connected, monkeypatch):
    monkeypatch.setattr(aibot_link, "ACK_TIMEOUT", 0.3)
    aibot_server.silent_sends = True
    result = connector_for(aibot).send(
        "m1", group, {"msgtype": "markdown", "markdown": {"content": "x"}}
    )
    assert result.outcome == Outcome.UNCERTAIN and "ack" in result.detail


def test_a_lost_ack_reaches_the_message_as_a_reason_in_the_operators_language(
    aibot_server, aibot, group, connected, post, monkeypatch
):
    monkeypatch.setattr(aibot_link, "ACK_TIMEOUT", 0.3)
    aibot_server.silent_sends = True

    message = sent_through(
        post, aibot, "wrGroupA", {"msgtype": "markdown", "markdown": {"content": "x"}}
    )

    # The gateway's answer carries the reason as msgid and parameters, not only its text.
    assert message.last_error.startswith("no ack from WeCom within 0.3 s — it may have been")
    with translation.override("zh-hans"):
        assert translate(message.last_error).startswith("企业微信在 0.3 秒内没有确认")


def test_a_gateway_answer_without_a_reason_keeps_its_text():
    answer = {"outcome": "retry", "errmsg": "an older gateway's words"}
    response = http.HttpResponse(200, {}, json.dumps(answer).encode(), False, 1)

    assert WeComAIBotConnector.classify(response).detail == "an older gateway's words"


def test_without_a_gateway_the_message_waits_and_says_why(aibot, group, post):
    answer = post(aibot, "wrGroupA", {"msgtype": "markdown", "markdown": {"content": "hi"}})
    message = Message.objects.get(msgid=answer.json()["msgid"])

    deliver(message.pk)

    message.refresh_from_db()
    assert message.status == "queued"
    assert "no AI bot gateway holds this bot" in message.last_error


# --- replies ------------------------------------------------------------------------------


def received(server, msgid: str = "in1") -> str:
    return server.push_message(
        "bot1",
        {"msgid": msgid, "chatid": "wrGroupA", "chattype": "group", "from": {"userid": "zhangsan"},
         "msgtype": "text", "text": {"content": "@助手 状态？"}},
    )  # fmt: skip


def test_a_reply_within_the_window_answers_the_callback_as_a_finished_stream(
    aibot_server, aibot, connected, post
):
    req_id = received(aibot_server)
    assert wait_until(lambda: Message.objects.filter(upstream_msgid="in1").exists(), timeout=30)

    message = sent_through(
        post,
        aibot,
        "wrGroupA",
        {
            "msgtype": "text",
            "text": {
                "content": "一切正常",
            },
            "reply_to": "in1",
        },
    )

    assert message.status == "sent"
    ((_, cmd, body),) = aibot_server.sent
    assert cmd == "aibot_respond_msg" and body["req_id"] == req_id
    assert body["msgtype"] == "stream"
    assert body["stream"]["finish"] is True and body["stream"]["content"] == "一切正常"


def test_an_image_answering_a_message_within_its_window_is_sent_proactively_by_media_id(
    aibot_server, aibot, connected, post
):
    """Media goes out through aibot_send_msg, reply or not, as Tencent's OpenClaw plugin
    sends it (`sendMediaBatch` in src/monitor.ts of WecomTeam/wecom-openclaw-plugin, as
    its fork xilixjd/wecom-openclaw-plugin keeps it), though its SDK can reply media too."""
    received(aibot_server)
    assert wait_until(lambda: Message.objects.filter(upstream_msgid="in1").exists(), timeout=30)
    picture = image_bytes(size=(30, 30))

    message = sent_through(
        post,
        aibot,
        "wrGroupA",
        {"msgtype": "image", "image": {"base64": base64.b64encode(picture).decode(),
                                       "md5": hashlib.md5(picture).hexdigest()},
         "reply_to": "in1"},
    )  # fmt: skip

    assert message.status == "sent"
    (upload,) = aibot_server.uploads.values()
    ((_, cmd, body),) = aibot_server.sent
    assert cmd == "aibot_send_msg" and body["image"] == {"media_id": upload["media_id"]}
    assert not aibot_server.frames_of("aibot_respond_msg")


def test_after_the_window_a_reply_goes_out_as_a_proactive_message(
    aibot_server, aibot, connected, post, fast_gateway
):
    fast_gateway.WECOM_AIBOT_REPLY_WINDOW_SECONDS = 0.3
    received(aibot_server)
    assert wait_until(lambda: Message.objects.filter(upstream_msgid="in1").exists(), timeout=30)
    forwarded = Message.objects.get(upstream_msgid="in1").body
    assert forwarded["reply_until"] <= time.time() + 1
    time.sleep(0.5)

    sent_through(
        post,
        aibot,
        "wrGroupA",
        {"msgtype": "markdown", "markdown": {"content": "late"}, "reply_to": "in1"},
    )

    assert [cmd for _, cmd, _ in aibot_server.sent] == ["aibot_send_msg"]


@pytest.mark.parametrize("errcode", [846605, 846608])  # invalid req_id, stream expired
def test_a_req_id_wecom_no_longer_answers_falls_back_to_a_proactive_send(
    errcode, aibot_server, aibot, connected, post
):
    if errcode == 846605:
        aibot_server.reply_seconds = 0  # the fake's own window is over
    else:
        aibot_server.answer_next(errcode)
    received(aibot_server)
    assert wait_until(lambda: Message.objects.filter(upstream_msgid="in1").exists(), timeout=30)

    message = sent_through(
        post,
        aibot,
        "wrGroupA",
        {"msgtype": "markdown", "markdown": {"content": "x"}, "reply_to": "in1"},
    )

    assert message.status == "sent"
    assert [cmd for _, cmd, _ in aibot_server.sent] == ["aibot_send_msg"]
    assert [f["cmd"] for f in (aibot_server.frames_of("aibot_respond_msg"))] == [
        "aibot_respond_msg"
    ]


def event_received(server, eventtype: str, msgid: str = "ev1") -> str:
    return server.push(
        "bot1",
        "aibot_event_callback",
        {"msgid": msgid, "aibotid": "bot1", "chattype": "single", "from": {"userid": "lisi"},
         "create_time": int(time.time()), "msgtype": "event", "event": {"eventtype": eventtype}},
    )  # fmt: skip


def test_a_reply_to_enter_chat_is_the_welcome_message_while_its_five_seconds_last(
    aibot_server, aibot, user, connected, post
):
    req_id = event_received(aibot_server, "enter_chat")
    assert wait_until(lambda: Message.objects.filter(upstream_msgid="ev1").exists(), timeout=30)
    forwarded = Message.objects.get(upstream_msgid="ev1").body
    assert forwarded["reply_until"] <= time.time() + 5

    message = sent_through(
        post, aibot, "lisi", {"msgtype": "text", "text": {"content": "欢迎！"}, "reply_to": "ev1"}
    )

    assert message.status == "sent"
    assert aibot_server.sent == [
        ("bot1", "aibot_respond_welcome_msg",
         {"req_id": req_id, "msgtype": "text", "text": {"content": "欢迎！"}}),
    ]  # fmt: skip


def test_a_reply_waiting_for_its_ack_does_not_hold_back_a_welcome_answering_another_req_id(
    aibot_server, aibot, connected
):
    # wecom-aibot.md: replies to one req_id wait for each other's ack, and a welcome has
    # 5 s; a reply to another req_id whose ack is lost must not spend them.
    aibot_server.silent_replies = True
    received(aibot_server)
    event_received(aibot_server, "enter_chat")
    assert wait_until(lambda: Message.objects.filter(upstream_msgid="ev1").exists(), timeout=30)
    markdown = {"msgtype": "markdown", "markdown": {"content": "ok"}}
    answers = {}
    reply = threading.Thread(
        target=lambda: answers.update(
            reply=post_to_gateway(aibot, markdown, message_id="r1", reply_to="in1")
        )
    )
    reply.start()
    assert wait_until(lambda: aibot_server.frames_of("aibot_respond_msg"), timeout=10)

    started = time.monotonic()
    welcome = post_to_gateway(
        aibot, markdown, message_id="w1", reply_to="ev1", chatid="lisi", chat_type="single"
    ).json()
    waited = time.monotonic() - started
    reply.join(30)

    assert (welcome["errcode"], welcome["via"]) == (0, "aibot_respond_welcome_msg"), welcome
    assert waited < aibot_link.ACK_TIMEOUT
    assert answers["reply"].json()["outcome"] == "uncertain"  # its ack never came


def test_replies_to_one_req_id_go_one_after_the_others_ack(aibot_server, aibot, connected):
    aibot_server.silent_replies = True  # the first reply's ack never comes
    received(aibot_server)
    assert wait_until(lambda: Message.objects.filter(upstream_msgid="in1").exists(), timeout=30)
    markdown = {"msgtype": "markdown", "markdown": {"content": "ok"}}
    replies = [
        threading.Thread(
            target=post_to_gateway, args=(aibot, markdown), kwargs={"message_id": message_id,
                                                                    "reply_to": "in1"}
        )
        for message_id in ("r1", "r2")
    ]  # fmt: skip
    replies[0].start()
    assert wait_until(lambda: aibot_server.frames_of("aibot_respond_msg"), timeout=10)
    replies[1].start()

    assert wait_until(lambda: len(aibot_server.frames_of("aibot_respond_msg")) == 2, timeout=30)
    first, second = aibot_server.times_of("aibot_respond_msg")
    assert second - first >= aibot_link.ACK_TIMEOUT - 0.5  # after the first one's wait
    for reply in replies:
        reply.join(30)


@pytest.mark.parametrize(
    "text",
    [
        "*urgent* see [the doc](x) now",
        "a_b_c ~~not struck~~ <@not_a_mention>",
        "# not a heading\n- not a list\n3. not numbered\n> a \\ b",
    ],
)
def test_a_welcome_text_reads_as_written_though_it_travelled_as_escaped_markdown(
    text, aibot_server, aibot, user, connected, post
):
    # text → escaped markdown (the AI bot has no text) → the welcome's plain text again
    event_received(aibot_server, "enter_chat")
    assert wait_until(lambda: Message.objects.filter(upstream_msgid="ev1").exists(), timeout=30)

    message = sent_through(
        post, aibot, "lisi", {"msgtype": "text", "text": {"content": text}, "reply_to": "ev1"}
    )

    assert message.sent_as == "markdown"
    ((_, cmd, body),) = aibot_server.sent
    assert cmd == "aibot_respond_welcome_msg" and body["text"] == {"content": text}


def test_a_card_answers_enter_chat_as_a_welcome_card(aibot_server, aibot, user, connected, post):
    event_received(aibot_server, "enter_chat")
    assert wait_until(lambda: Message.objects.filter(upstream_msgid="ev1").exists(), timeout=30)
    card = {"card_type": "text_notice", "main_title": {"title": "欢迎"},
            "card_action": {"type": 1, "url": "https://example.com"}}  # fmt: skip

    sent_through(
        post, aibot, "lisi", {"msgtype": "template_card", "template_card": card, "reply_to": "ev1"}
    )

    ((_, cmd, body),) = aibot_server.sent
    assert cmd == "aibot_respond_welcome_msg" and body["msgtype"] == "template_card"
    assert body["template_card"]["main_title"] == {"title": "欢迎"}


@pytest.mark.parametrize(
    ("eventtype", "window"), [("feedback_event", False), ("template_card_event", True)]
)
def test_a_markdown_answering_an_event_goes_out_as_a_proactive_message(
    eventtype, window, aibot_server, aibot, user, connected, post
):
    # Feedback takes no reply; a card click takes only a card replacing the clicked one.
    event_received(aibot_server, eventtype)
    assert wait_until(lambda: Message.objects.filter(upstream_msgid="ev1").exists(), timeout=30)
    assert ("reply_until" in Message.objects.get(upstream_msgid="ev1").body) is window

    message = sent_through(
        post,
        aibot,
        "lisi",
        {"msgtype": "markdown", "markdown": {"content": "ok"}, "reply_to": "ev1"},
    )

    assert message.status == "sent"
    assert [cmd for _, cmd, _ in aibot_server.sent] == ["aibot_send_msg"]
    assert [f for f in aibot_server.frames if f[1].get("cmd", "").startswith("aibot_respond")] == []


def test_reply_to_must_name_a_message_this_conversation_received(aibot, group, post):
    answer = post(
        aibot, "wrGroupA", {"msgtype": "markdown", "markdown": {"content": "x"}, "reply_to": "nope"}
    ).json()
    assert answer["errcode"] == 40058 and "reply_to" in answer["errmsg"]


def test_other_connectors_refuse_reply_to_and_template_cards(make_bot, post):
    robot_bot = make_bot(name="robot", connector="wecom_robot")
    Conversation.objects.create(bot=robot_bot, conversation_id="robotGroup1", robot_key="k")
    answer = post(
        robot_bot,
        "robotGroup1",
        {"msgtype": "markdown", "markdown": {"content": "x"}, "reply_to": "m"},
    ).json()
    assert answer["errcode"] == 40058 and "cannot reply" in answer["errmsg"]
    bridge_bot = make_bot(name="bridged", connector="bridge")
    Conversation.objects.create(bot=bridge_bot, conversation_id="wrGroup1")
    card = {"msgtype": "template_card", "template_card": {"card_type": "text_notice"}}
    answer = post(bridge_bot, "wrGroup1", card).json()
    assert answer["errcode"] == 40008 and "template_card cannot be sent" in answer["errmsg"]


def test_an_interactive_card_needs_a_task_id(aibot, group, post):
    card = {"msgtype": "template_card", "template_card": {"card_type": "vote_interaction"}}
    answer = post(aibot, "wrGroupA", card).json()
    assert answer["errcode"] == 40058 and "task_id" in answer["errmsg"]


def test_a_file_is_uploaded_with_its_name_then_sent_by_media_id(
    aibot_server, aibot, group, connected, post
):
    report = b"%PDF-1.4 weekly report"
    body = {"msgtype": "file", "file": {"base64": base64.b64encode(report).decode(),
            "md5": hashlib.md5(report).hexdigest(), "name": "周报.pdf"}}  # fmt: skip
    message = sent_through(post, aibot, "wrGroupA", body)

    assert message.status == "sent" and message.sent_as == "file"
    init = aibot_server.frames_of("aibot_upload_media_init")[0]["body"]
    assert (init["type"], init["filename"], init["total_chunks"]) == ("file", "周报.pdf", 1)
    (upload,) = aibot_server.uploads.values()
    assert upload["data"] == report
    assert aibot_server.sent[0][2] == {
        "chatid": "wrGroupA", "chat_type": 2, "msgtype": "file", "file": {"media_id": upload["media_id"]},
    }  # fmt: skip


def test_a_file_given_by_url_is_downloaded_named_after_its_path_and_sent_by_media_id(
    aibot_server, aibot, group, connected, post
):
    report = b"%PDF-1.4 weekly report"
    with Receiver() as host:
        host.respond(200, report, {"Content-Type": "application/pdf"})
        url = host.url("/reports/weekly.pdf?signature=x")
        message = sent_through(post, aibot, "wrGroupA", {"msgtype": "file", "file": {"url": url}})

    assert message.status == "sent"
    init = aibot_server.frames_of("aibot_upload_media_init")[0]["body"]
    assert (init["type"], init["filename"]) == ("file", "weekly.pdf")
    (upload,) = aibot_server.uploads.values()
    assert upload["data"] == report


@NAMES_FROM_URLS
def test_a_file_name_taken_from_a_url_is_decoded_cut_keeping_its_extension_or_given_one(
    aibot_server, aibot, group, connected, post, path, name
):
    with Receiver() as host:
        host.respond(200, b"%PDF-1.4 weekly report", {"Content-Type": "application/pdf"})
        body = {"msgtype": "file", "file": {"url": host.url(path)}}
        message = sent_through(post, aibot, "wrGroupA", body)

    assert message.status == "sent"
    assert aibot_server.frames_of("aibot_upload_media_init")[0]["body"]["filename"] == name


def test_a_voice_given_by_url_that_is_not_amr_fails_without_an_upload(
    aibot_server, aibot, group, connected, post
):
    with Receiver() as host:
        host.respond(200, b"ID3 an mp3, not AMR", {"Content-Type": "audio/mpeg"})
        body = {"msgtype": "voice", "voice": {"url": host.url("/note.mp3")}}
        message = sent_through(post, aibot, "wrGroupA", body)

    assert (message.status, message.last_error) == ("failed", "voice is not AMR")
    assert not aibot_server.frames_of("aibot_upload_media_init")


@pytest.mark.parametrize("content", [b"", b"%PDF-"], ids=["empty", "5 bytes"])
def test_a_file_given_by_url_under_six_bytes_fails_saying_its_size_without_an_upload(
    aibot_server, aibot, group, connected, post, content
):
    with Receiver() as host:
        host.respond(200, content, {"Content-Type": "application/pdf"})
        body = {"msgtype": "file", "file": {"url": host.url("/reports/empty.pdf")}}
        message = sent_through(post, aibot, "wrGroupA", body)

    assert message.status == "failed"
    assert message.last_error == f"file is only {len(content)} bytes: at least 6 are needed"
    with translation.override("zh-hans"):
        assert translate(message.last_error) == f"文件只有 {len(content)} 字节：至少需要 6 字节"
    assert not aibot_server.frames_of("aibot_upload_media_init")


def test_the_gateway_answers_media_under_six_bytes_with_its_size_not_too_large(
    aibot_server, aibot, group, connected
):
    """What the connector checks first, the gateway checks again (a request from an
    older web process): an empty upload has no chunk, which read as "too large"."""
    answer = post_to_gateway(aibot, {"msgtype": "image", "image": {"base64": ""}})

    result = WeComAIBotConnector.classify(answer)
    assert (result.outcome, result.detail) == (
        Outcome.FAILED,
        "image is only 0 bytes: at least 6 are needed",
    )
    assert not aibot_server.frames_of("aibot_upload_media_init")


def test_a_gateway_that_died_holding_the_lease_leaves_the_message_waiting_not_failed(
    aibot, group, post
):
    with LocalServer() as stopped:
        dead_endpoint = stopped.url()  # a port nothing listens on once it stopped
    assert connections.claim(aibot.pk, "gateway-gone", 60, endpoint=dead_endpoint, token="t")
    answer = post(aibot, "wrGroupA", {"msgtype": "markdown", "markdown": {"content": "hi"}})
    message = Message.objects.get(msgid=answer.json()["msgid"])

    assert deliver(message.pk).result == "retry"

    message.refresh_from_db()
    assert message.status == "queued"
    assert message.last_error.startswith("cannot reach the AI bot gateway: ")
    with translation.override("zh-hans"):
        assert translate(message.last_error).startswith("无法连接智能机器人网关：")


def test_test_the_connection_says_which_gateway_holds_it_or_that_none_does(
    aibot_server, aibot, start_gateway, superuser
):
    with translation.override("zh-hans"):
        ok, text = check_connection(aibot, superuser)
        assert (ok, translate(text)) == (False, "没有智能机器人网关持有该连接（未连接）")

        start_gateway("vm:10437:ebd9109e")  # host:pid:id, as a gateway names itself
        aibot_server.wait_connected("bot1")
        assert wait_until(lambda: connections.status(aibot)["state"] == "connected", timeout=30)
        ok, text = check_connection(aibot, superuser)
        # The process in an operator's terms (`ps` shows its pid), not its lease id.
        assert (ok, translate(text)) == (True, "由主机 vm 上的网关进程（PID 10437）保持（已连接）")


# --- card clicks ----------------------------------------------------------------------------

BUTTONS = {"card_type": "button_interaction", "task_id": "deploy-7",
           "main_title": {"title": "Deploy build 7?"},
           "button_list": [{"text": "Yes", "key": "yes"}, {"text": "No", "key": "no"}]}  # fmt: skip


def card_clicked(server, task_id: str = "deploy-7", msgid: str = "click1", nested: bool = True):
    """A template_card_event as WeCom's documentation shows it (the click under
    `event.template_card_event`), or as Tencent's SDK types have it (on `event`)."""
    click = {"card_type": "button_interaction", "event_key": "yes", "task_id": task_id}
    event = {"eventtype": "template_card_event"}
    event |= {"template_card_event": click} if nested else click
    return server.push(
        "bot1",
        "aibot_event_callback",
        {"msgid": msgid, "aibotid": "bot1", "chatid": "wrGroupA", "chattype": "group",
         "from": {"userid": "lisi"}, "create_time": int(time.time()), "msgtype": "event",
         "event": event},
    )  # fmt: skip


def answer_click(post, bot, card: dict) -> Message:
    """Send a card answering the click `click1` and deliver it once."""
    body = {"msgtype": "template_card", "template_card": card, "reply_to": "click1"}
    return sent_through(post, bot, "wrGroupA", body)


def stored_click(msgid: str = "click1") -> dict:
    assert wait_until(lambda: Message.objects.filter(upstream_msgid=msgid).exists(), timeout=30)
    return Message.objects.get(upstream_msgid=msgid).body


@pytest.mark.parametrize("nested", [True, False], ids=["documented", "sdk-types"])
def test_a_card_answering_a_click_within_five_seconds_replaces_the_clicked_card(
    nested, aibot_server, aibot, group, connected, post
):
    req_id = card_clicked(aibot_server, nested=nested)
    forwarded = stored_click()
    assert time.time() < forwarded["reply_until"] <= time.time() + 5
    answered = {**BUTTONS, "main_title": {"title": "Deploying build 7"}, "button_list": []}

    message = answer_click(post, aibot, answered)

    assert message.status == "sent" and message.upstream_msgid == "aibot_respond_update_msg"
    assert aibot_server.sent == [
        ("bot1", "aibot_respond_update_msg",
         {"req_id": req_id, "response_type": "update_template_card", "template_card": answered}),
    ]  # fmt: skip


def test_an_update_without_a_task_id_takes_the_clicked_cards(
    aibot_server, aibot, group, connected, post
):
    card_clicked(aibot_server, task_id="notice-3")
    stored_click()
    notice = {"card_type": "text_notice", "main_title": {"title": "Done"},
              "card_action": {"type": 1, "url": "https://ci.example/7"}}  # fmt: skip

    answer_click(post, aibot, notice)

    ((_, cmd, body),) = aibot_server.sent
    assert cmd == "aibot_respond_update_msg"
    assert body["template_card"] == {**notice, "task_id": "notice-3"}


def test_after_the_five_seconds_a_card_answering_a_click_is_a_new_card(
    aibot_server, aibot, group, connected, post, monkeypatch
):
    monkeypatch.setattr(wecom_aibot_frames, "CARD_UPDATE_SECONDS", 0.3)
    card_clicked(aibot_server)
    assert stored_click()["reply_until"] <= time.time() + 1
    time.sleep(0.5)
    newer = {**BUTTONS, "task_id": "deploy-7-b"}

    answer_click(post, aibot, newer)

    assert [cmd for _, cmd, _ in aibot_server.sent] == ["aibot_send_msg"]
    assert aibot_server.sent[0][2]["template_card"] == newer


def test_an_update_wecom_no_longer_takes_goes_out_as_a_new_card(
    aibot_server, aibot, group, connected, post
):
    aibot_server.update_seconds = 0  # WeCom answers 846605
    card_clicked(aibot_server)
    stored_click()

    message = answer_click(post, aibot, BUTTONS)

    assert message.status == "sent"
    assert len(aibot_server.frames_of("aibot_respond_update_msg")) == 1
    assert [cmd for _, cmd, _ in aibot_server.sent] == ["aibot_send_msg"]


# --- task_ids: unique per bot ---------------------------------------------------------------


def test_a_card_reusing_the_clicked_cards_task_id_gets_its_own_when_sent_as_a_new_card(
    aibot_server, aibot, group, connected, post, unpaced
):
    aibot_server.update_seconds = 0
    card_clicked(aibot_server)
    stored_click()
    # WeCom refuses the update (the click's req_id is gone), then finds the new card busy.
    aibot_server.answer_next(846605, -1)

    message = answer_click(post, aibot, BUTTONS)
    assert message.status == "queued"
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    deliver(message.pk)
    message.refresh_from_db()

    assert message.status == "sent"
    ((_, cmd, body),) = aibot_server.sent
    assert cmd == "aibot_send_msg"
    assert body["template_card"] == {**BUTTONS, "task_id": f"deploy-7@{message.msgid}"}
    # The refused first try carried the same task_id: a retry sends the same card.
    tried = [
        f["body"]["template_card"]["task_id"] for f in aibot_server.frames_of("aibot_send_msg")
    ]
    assert tried == [f"deploy-7@{message.msgid}"] * 2


def test_an_operators_new_task_id_answering_a_click_is_kept(
    aibot_server, aibot, group, connected, post
):
    aibot_server.update_seconds = 0
    card_clicked(aibot_server)
    stored_click()
    newer = {**BUTTONS, "task_id": "deploy-7-b"}

    answer_click(post, aibot, newer)

    assert [body["template_card"] for _, _, body in aibot_server.sent] == [newer]


def test_one_card_sent_to_two_chats_gets_a_task_id_of_its_own_in_the_second(
    aibot_server, aibot, group, user, connected, post, unpaced
):
    card = {"msgtype": "template_card", "template_card": BUTTONS}

    first = sent_through(post, aibot, "wrGroupA", card)
    second = sent_through(post, aibot, "lisi", card)

    assert (first.status, second.status) == ("sent", "sent")
    assert [body["template_card"]["task_id"] for _, _, body in aibot_server.sent] == [
        "deploy-7",
        f"deploy-7@{second.msgid}",
    ]


def restarted(server, gateway, start_gateway) -> None:
    """The gateway stops and a new one (another process, another host) takes the bot."""
    gateway.stop()
    start_gateway("gateway-b")
    assert wait_until(lambda: len(server.subscriptions) == 2, timeout=10)
    server.wait_connected("bot1")


def test_a_card_reusing_a_task_id_sent_before_the_gateway_restarted_gets_its_own(
    aibot_server, aibot, group, connected, start_gateway, post, unpaced
):
    card = {"msgtype": "template_card", "template_card": BUTTONS}
    first = sent_through(post, aibot, "wrGroupA", card)
    restarted(aibot_server, connected, start_gateway)

    again = sent_through(post, aibot, "wrGroupA", card)

    assert (first.status, again.status) == ("sent", "sent")
    assert [body["template_card"]["task_id"] for _, _, body in aibot_server.sent] == [
        "deploy-7",
        f"deploy-7@{again.msgid}",
    ]


def test_a_card_clicked_before_the_gateway_restarted_keeps_its_task_id_taken(
    aibot_server, aibot, group, connected, start_gateway, post, unpaced
):
    card_clicked(aibot_server, task_id="poll-1")  # a card someone else's client sent
    stored_click()
    restarted(aibot_server, connected, start_gateway)
    card = {"msgtype": "template_card", "template_card": {**BUTTONS, "task_id": "poll-1"}}

    message = sent_through(post, aibot, "wrGroupA", card)

    assert message.status == "sent", message.last_error
    ((_, _, body),) = aibot_server.sent
    assert body["template_card"]["task_id"] == f"poll-1@{message.msgid}"


def test_a_task_id_wecom_says_the_bot_used_fails_the_card_saying_what_to_do(
    aibot_server, aibot, group, connected, post
):
    """A card another client of the bot sent, never clicked: botadmin cannot know its task_id.
    WeCom answers 42014 (同一个机器人任务id不能重复), which a retry cannot change."""
    aibot_server.task_ids["bot1"] = {"poll-9"}
    card = {"msgtype": "template_card", "template_card": {**BUTTONS, "task_id": "poll-9"}}

    message = sent_through(post, aibot, "wrGroupA", card)

    assert message.status == "failed" and message.next_attempt_at is None
    assert message.attempts.get().errcode == 42014
    assert message.last_error.startswith(
        "WeCom refuses the card's task_id (42014 taskid has existed or empty or exceed max len)"
    )
    assert "new task_id" in message.last_error
    assert aibot_server.sent == []
