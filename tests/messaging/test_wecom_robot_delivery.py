"""The wecom_robot connector through the delivery engine, against a fake WeCom robot API."""

import base64
import hashlib
import struct
import zlib

import pytest

from connectors.base import ConnectorError
from connectors.registry import connector_for
from devtools.receiver import Receiver
from messaging.delivery import deliver
from messaging.models import DeliveryAttempt, Message


def png_bytes(extra: int = 0) -> bytes:
    """A valid 1×1 PNG, padded with a text chunk to reach a wanted size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    padding = chunk(b"tEXt", b"c\x00" + b"x" * extra) if extra else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + padding
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def image_host():
    with Receiver() as host:
        host.respond(200, png_bytes(), {"Content-Type": "image/png"})
        yield host


def test_every_msgtype_reaches_the_robot_with_the_right_wire_body(
    wecom, wecom_group, queue_message, run_queue, image_host
):
    bodies = [
        {"msgtype": "text", "text": {"content": "hi", "mentioned_list": ["zhangsan", "@all"]}},
        {"msgtype": "markdown", "markdown": {"content": '# 标题\n<font color="info">ok</font>'}},
        {"msgtype": "markdown_v2", "markdown_v2": {"content": "| a | b |\n|---|---|\n| 1 | 2 |"}},
        {
            "msgtype": "link",
            "link": {
                "title": "标题",
                "url": "https://x.com",
                "image_url": "https://x.com/logo.png",
                "desc": "描述",
            },
        },
        {
            "msgtype": "news",
            "news": {
                "articles": [
                    {"title": "t1", "url": "https://a.example"},
                    {"title": "t2", "url": "https://b.example"},
                ]
            },
        },
        {"msgtype": "image", "image": {"url": image_host.url("/logo.png")}},
    ]
    for body in bodies:
        queue_message(wecom_group, body)

    run_queue()

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    posted = [body for key, body in wecom.messages]
    assert all(key == "key-sales" for key, _ in wecom.messages)
    assert posted[:3] == bodies[:3]
    assert posted[3] == {
        "msgtype": "news",
        "news": {
            "articles": [
                {
                    "title": "标题",
                    "url": "https://x.com",
                    "description": "描述",
                    "picurl": "https://x.com/logo.png",
                }
            ]
        },
    }
    assert posted[4] == bodies[4]
    raw = png_bytes()
    assert posted[5] == {
        "msgtype": "image",
        "image": {"base64": base64.b64encode(raw).decode(), "md5": hashlib.md5(raw).hexdigest()},
    }


def test_robot_rate_limit_45009_is_retried_later_not_failed(
    wecom, wecom_group, queue_message, clock
):
    wecom.answer_next(45009)
    message = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "busy"}})

    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    assert message.status == "queued"
    assert (message.next_attempt_at - clock()).total_seconds() >= 60
    attempt = message.attempts.get()
    assert (attempt.outcome, attempt.errcode) == ("retry", 45009)
    clock.advance(61)
    assert deliver(message.pk, clock).result == "sent"
    assert len(wecom.messages) == 1


def test_21st_message_in_a_minute_meets_45009_and_waits_instead_of_failing(
    wecom, wecom_group, queue_message, clock, settings
):
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0
    messages = [
        queue_message(wecom_group, {"msgtype": "text", "text": {"content": f"#{n}"}})
        for n in range(21)
    ]
    for message in messages:  # one after the other, as fast as the engine allows
        while deliver(message.pk, clock).result == "waiting":
            clock.advance(0.1)

    assert len(wecom.messages) == 20
    last = Message.objects.get(pk=messages[-1].pk)
    assert last.status == "queued"
    assert last.attempts.get().errcode == 45009


def test_unknown_robot_key_fails_with_the_errmsg_and_does_not_pause_the_bot(
    wecom, wecom_bot, make_conversation, queue_message, run_queue
):
    group = make_conversation(wecom_bot, "wrGone", robot_key="removed-key")
    message = queue_message(group, {"msgtype": "text", "text": {"content": "hi"}})

    run_queue()

    message.refresh_from_db()
    wecom_bot.refresh_from_db()
    assert message.status == "failed"
    assert message.last_error.startswith("invalid webhook url")
    assert message.attempts.get().errcode == 93000
    assert wecom_bot.paused_at is None
    assert wecom.messages == []


def test_a_refusal_by_the_robot_fails_with_the_robot_errmsg(
    wecom, wecom_group, queue_message, run_queue
):
    wecom.answer_next(40058)
    message = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "x"}})
    run_queue()
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.last_error == "forced by the test"
    assert message.attempts.get().errcode == 40058


def test_answer_lost_after_posting_makes_the_message_uncertain_and_never_retried(
    wecom, wecom_group, queue_message, run_queue
):
    wecom.drop_next = 1
    message = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "once"}})

    run_queue()

    message.refresh_from_db()
    assert message.status == "uncertain"
    assert message.next_attempt_at is None
    assert message.attempts.get().outcome == "uncertain"
    assert len(wecom.messages) == 1  # it did get posted: a retry would post it twice


def test_read_timeout_from_the_robot_is_uncertain(
    wecom, wecom_group, queue_message, run_queue, settings
):
    settings.BOTADMIN_HTTP_READ_TIMEOUT = 0.3
    wecom.delay = 1
    message = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "slow"}})
    run_queue()
    message.refresh_from_db()
    assert message.status == "uncertain"
    assert "no answer" in message.last_error


def test_robot_unreachable_is_retried_because_nothing_was_posted(
    wecom_group, queue_message, clock, settings
):
    with Receiver() as closed:
        port = closed.port
    settings.WECOM_API_BASE = f"http://127.0.0.1:{port}"
    message = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "hi"}})

    assert deliver(message.pk, clock).result == "retry"
    message.refresh_from_db()
    assert message.status == "queued"
    assert "cannot connect" in message.last_error


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda: png_bytes(extra=2 * 1024 * 1024), "larger than 2 MB"),
        (lambda: b"GIF89a" + b"\x00" * 100, "not a JPG or PNG"),
    ],
    ids=["too-large", "wrong-format"],
)
def test_image_that_the_robot_cannot_take_fails_before_posting(
    wecom, wecom_group, queue_message, run_queue, answer, error
):
    with Receiver() as host:
        host.respond(200, answer())
        message = queue_message(wecom_group, {"msgtype": "image", "image": {"url": host.url("/i")}})
        run_queue()
    message.refresh_from_db()
    assert message.status == "failed"
    assert error in message.last_error
    assert wecom.requests == []


def test_image_on_a_private_address_is_refused_when_private_urls_are_off(
    wecom, wecom_group, queue_message, clock, settings, image_host
):
    message = queue_message(
        wecom_group, {"msgtype": "image", "image": {"url": image_host.url("/x.png")}}
    )
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    deliver(message.pk, clock)
    message.refresh_from_db()
    assert message.status == "failed"
    assert "image URL refused" in message.last_error
    assert image_host.requests == []


def test_check_connection_reports_good_and_bad_robot_keys(
    wecom, wecom_bot, wecom_group, make_conversation
):
    assert "1 robot key" in connector_for(wecom_bot).check()
    make_conversation(wecom_bot, "wrOld", name="旧群", robot_key="stale")
    with pytest.raises(ConnectorError, match="旧群: 93000"):
        connector_for(wecom_bot).check()
    assert wecom.messages == []  # probing posts nothing


def test_every_attempt_is_logged_with_its_answer(wecom, wecom_group, queue_message, clock):
    wecom.answer_next(-1, -1)
    message = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "x"}})
    for _ in range(3):
        deliver(message.pk, clock)
        clock.advance(3600)
    attempts = list(DeliveryAttempt.objects.filter(message=message).order_by("pk"))
    assert [(a.outcome, a.errcode) for a in attempts] == [("retry", -1), ("retry", -1), ("sent", 0)]
    assert all(a.duration_ms is not None for a in attempts)


def test_image_given_as_base64_goes_to_the_robot_as_given(
    wecom, wecom_group, queue_message, run_queue
):
    """WeCom's own image form (base64 + md5, shared/spec/wecom.md section 1) reaches the robot
    without a URL to download."""
    raw = png_bytes()
    image = {"base64": base64.b64encode(raw).decode(), "md5": hashlib.md5(raw).hexdigest()}
    message = queue_message(wecom_group, {"msgtype": "image", "image": image})

    run_queue()

    message.refresh_from_db()
    assert message.status == "sent", message.last_error
    assert wecom.messages == [("key-sales", {"msgtype": "image", "image": image})]


NOTICE_CARD = {
    "card_type": "text_notice",
    "source": {"desc": "CI"},
    "main_title": {"title": "构建失败", "desc": "main #42"},
    "card_action": {"type": 1, "url": "https://ci.example/42"},
}


def test_a_template_card_reaches_the_robot_as_given(wecom, wecom_group, send, run_queue):
    """The robot sends template cards (shared/spec/wecom.md section 1): a tool posting one to
    botadmin gets it delivered, not 40008."""
    body = {"msgtype": "template_card", "template_card": NOTICE_CARD}
    answer = send(wecom_group.bot.secret, wecom_group.conversation_id, body).json()
    assert answer["errcode"] == 0, answer

    run_queue()

    assert Message.objects.get(msgid=answer["msgid"]).status == "sent"
    assert wecom.messages == [("key-sales", body)]


def test_an_interactive_card_the_robot_cannot_send_is_refused_before_it_is_stored(
    wecom, wecom_group, send
):
    card = {**NOTICE_CARD, "card_type": "button_interaction", "task_id": "t1"}
    body = {"msgtype": "template_card", "template_card": card}
    response = send(wecom_group.bot.secret, wecom_group.conversation_id, body)
    assert response.status_code == 400
    assert response.json()["errcode"] == 40058
    assert "text_notice" in response.json()["errmsg"]
    assert not Message.objects.exists()
