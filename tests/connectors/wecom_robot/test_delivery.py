"""The wecom_robot connector through the delivery engine, against a fake WeCom robot API."""

import base64
import hashlib
import struct
import zlib

import pytest
import requests
from django.utils import translation

from botadmin.reasons import translate
from connectors.base import ConnectorError
from connectors.registry import connector_for
from conversations.services import check_connection
from devtools.receiver import Receiver
from messaging import media_fetch
from messaging.delivery import deliver
from messaging.models import DeliveryAttempt, Message
from tests.connectors.test_filenames import NAMES_FROM_URLS


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
    assert 60 <= (message.next_attempt_at - clock()).total_seconds() <= 75
    attempt = message.attempts.get()
    assert (attempt.outcome, attempt.errcode) == ("retry", 45009)
    clock.advance(76)  # its minute and at most a quarter more
    assert deliver(message.pk, clock).result == "sent"
    assert len(wecom.messages) == 1


def test_robot_answering_45033_too_many_at_once_is_retried_then_sent(
    wecom, wecom_group, queue_message, clock, settings
):
    """45033 (too many calls at once, one of WeCom's global errcodes): the robot posted
    nothing, so the message is tried again on the usual schedule, as after -1, without
    45009's minute, instead of failing."""
    settings.DELIVERY_RETRY_BASE_DELAY = 5
    wecom.answer_next(45033)
    message = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "busy"}})

    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    assert message.status == "queued"
    attempt = message.attempts.get()
    assert (attempt.outcome, attempt.errcode) == ("retry", 45033)
    assert (message.next_attempt_at - clock()).total_seconds() < 60
    assert wecom.messages == []
    clock.now = message.next_attempt_at
    assert deliver(message.pk, clock).result == "sent"
    assert wecom.messages == [("key-sales", {"msgtype": "text", "text": {"content": "busy"}})]


def test_21st_message_in_a_minute_meets_45009_and_waits_instead_of_failing(
    wecom, wecom_group, queue_message, clock, settings
):
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0
    messages = [
        queue_message(wecom_group, {"msgtype": "text", "text": {"content": f"#{n}"}})
        for n in range(21)
    ]
    # One after the other, as fast as the engine allows: 3 s apart on the simulated clock,
    # within a second of the fake's real one (as when something else posts with the key).
    for message in messages:
        while deliver(message.pk, clock).result == "waiting":
            clock.advance(0.5)

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


@pytest.mark.parametrize(
    ("status", "result"),
    [(200, "uncertain"), (500, "uncertain"), (502, "retry")],
    ids=["200", "500", "502"],
)
def test_an_answer_that_is_not_wecoms_json_is_retried_only_when_nothing_was_posted(
    wecom_group, queue_message, clock, settings, status, result
):
    """WeCom answers 200 with JSON; a page from something in front of it may come after
    the message was posted (uncertain), except a 502 / 503 / 429 in front of WeCom."""
    with Receiver() as front:
        front.respond(status, b"<html>gateway page</html>", {"Content-Type": "text/html"})
        settings.WECOM_API_BASE = front.url("")
        message = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "hi"}})

        assert deliver(message.pk, clock).result == result

    attempt = message.attempts.get()
    assert attempt.http_status == status and "gateway page" in attempt.response_text


def test_an_answer_naming_errcode_twice_is_uncertain_not_sent(
    wecom_group, queue_message, clock, settings
):
    """Which of two errcodes counts is a reader's guess: the message may or may not have
    been posted, as with any answer that is not WeCom's JSON."""
    with Receiver() as front:
        front.respond(200, b'{"errcode":93000,"errmsg":"invalid webhook url","errcode":0}')
        settings.WECOM_API_BASE = front.url("")
        message = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "hi"}})

        assert deliver(message.pk, clock).result == "uncertain"

    message.refresh_from_db()
    assert message.last_error.startswith("unexpected answer: {")


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
    # Every operator reads the error (console, audit log): in words, without urllib3's
    # wrapping (its pool, the URL with the group's key).
    assert message.last_error == ("cannot connect to WeCom: 127.0.0.1 refused the connection")
    assert "key-sales" not in message.last_error + message.attempts.get().response_text


@pytest.mark.parametrize("checked", [True, False], ids=["checked", "open"])
def test_a_wecom_whose_name_does_not_resolve_is_retried_in_one_line(
    wecom_group, queue_message, clock, settings, unknown_names, checked
):
    """Offline, WeCom's own name does not resolve: nothing was posted, and it will resolve
    again, so the message waits, whoever looked the name up (botadmin's URL check, or
    urllib3 with private URLs allowed)."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = not checked
    settings.WECOM_API_BASE = "https://qyapi.weixin.invalid"
    message = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "hi"}})

    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    assert message.status == "queued"
    assert message.last_error == "cannot connect to WeCom: cannot resolve qyapi.weixin.invalid"
    with translation.override("zh-hans"):
        assert translate(message.last_error) == "无法连接企业微信：无法解析 qyapi.weixin.invalid"


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


def test_an_image_whose_host_name_does_not_exist_fails_and_the_next_message_goes_out(
    wecom, wecom_group, send, run_queue, unknown_names
):
    """Nothing is checked before connecting (private URLs allowed): urllib3 looks the name
    up itself, and its "no such name" fails the image at once, in words, instead of
    holding the conversation for an hour of retries."""
    image = {"msgtype": "image", "image": {"url": "https://no-such-host.invalid/logo.png"}}
    text = {"msgtype": "text", "text": {"content": "after the picture"}}
    ids = [
        send(wecom_group.bot.secret, wecom_group.conversation_id, body).json()["msgid"]
        for body in (image, text)
    ]

    run_queue()

    failed, sent = (Message.objects.get(msgid=msgid) for msgid in ids)
    assert (failed.status, failed.attempt_count) == ("failed", 1)
    assert failed.last_error == "the image's host name does not exist: no-such-host.invalid"
    with translation.override("zh-hans"):
        assert translate(failed.last_error) == "图片的主机名不存在：no-such-host.invalid"
    assert sent.status == "sent"
    assert wecom.messages == [("key-sales", text)]
    # Its archived copy gives up as at once, for the same reason.
    (media,) = failed.media.all()
    assert media_fetch.fetch(media.pk) == "failed"
    media.refresh_from_db()
    assert media.error == failed.last_error


def test_an_image_whose_host_name_cannot_be_looked_up_for_now_is_retried_saying_so(
    wecom, wecom_group, queue_message, clock, hung_resolver
):
    image = {"msgtype": "image", "image": {"url": "https://pictures.hung.example/logo.png"}}
    message = queue_message(wecom_group, image)
    waiting = queue_message(wecom_group, {"msgtype": "text", "text": {"content": "next"}})

    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    assert message.status == "queued" and message.next_attempt_at > clock()
    assert message.last_error == (
        "cannot download the image: cannot resolve pictures.hung.example within 0.2 s"
    )
    with translation.override("zh-hans"):
        assert translate(message.last_error) == (
            "无法下载图片：无法在 0.2 秒内解析 pictures.hung.example"
        )
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempt_count) == ("queued", 0)  # behind it, in order


def test_check_connection_reports_good_and_bad_robot_keys(
    wecom, wecom_bot, wecom_group, make_conversation
):
    assert connector_for(wecom_bot).check() == "1 robot key answers"
    make_conversation(wecom_bot, "wrOld", name="旧群", robot_key="stale")
    with pytest.raises(ConnectorError, match="1 of 2 robot keys failed: 旧群: 93000"):
        connector_for(wecom_bot).check()
    assert wecom.messages == []  # probing posts nothing


def test_check_connection_without_a_keyed_group_says_so(wecom, wecom_bot, make_conversation):
    make_conversation(wecom_bot, "wrOff", robot_key="key-sales", is_active=False)
    make_conversation(wecom_bot, "wrNoKey", robot_key="")

    ok, text = check_connection(wecom_bot, None)

    assert (ok, text) == (False, "no active conversation has a robot key")
    assert wecom.requests == []


def test_check_connection_names_a_group_whose_key_check_gets_no_errcode(
    wecom_bot, make_conversation, settings
):
    make_conversation(wecom_bot, "wrSales", name="销售群", robot_key="key-sales")
    with Receiver() as front:
        front.respond(502, b"bad gateway")
        settings.WECOM_API_BASE = front.url("")

        ok, text = check_connection(wecom_bot, None)

    assert not ok
    assert text == (
        "cannot check the robot keys: the key check was answered HTTP 502 without WeCom's "
        "errcode: a proxy or gateway in front of WeCom answered instead"
    )
    assert "bad gateway" not in text  # what answered is not WeCom: its words stay out
    with translation.override("zh-hans"):
        assert translate(text).startswith("无法检查机器人密钥：密钥检查收到 HTTP 502 应答")


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
CARD_MENU = {"desc": "订阅", "action_list": [{"text": "不再推送", "key": "unsubscribe"}]}


def test_a_template_card_reaches_the_robot_as_given(wecom, wecom_group, send, run_queue):
    """The robot sends template cards (shared/spec/wecom.md section 1): a tool posting one to
    botadmin gets it delivered, not 40008."""
    body = {"msgtype": "template_card", "template_card": NOTICE_CARD}
    answer = send(wecom_group.bot.secret, wecom_group.conversation_id, body).json()
    assert answer["errcode"] == 0, answer

    run_queue()

    assert Message.objects.get(msgid=answer["msgid"]).status == "sent"
    assert wecom.messages == [("key-sales", body)]


@pytest.mark.parametrize(
    "msgtype, limit", [("text", 2048), ("markdown", 4096), ("markdown_v2", 4096)]
)
def test_content_up_to_the_robots_limit_is_delivered_whole_and_longer_is_refused_at_once(
    wecom, wecom_group, send, run_queue, msgtype, limit
):
    """WeCom refuses a longer robot message (40058, "text.content exceed max length");
    botadmin neither cuts nor splits it: the caller learns it from the API's answer,
    before anything is stored, instead of from a message failing later."""
    secret, conversation_id = wecom_group.bot.secret, wecom_group.conversation_id
    fits = "字" * (limit // 3) + "a" * (limit % 3)  # exactly `limit` UTF-8 bytes

    accepted = send(secret, conversation_id, {"msgtype": msgtype, msgtype: {"content": fits}})
    too_long = send(secret, conversation_id, {"msgtype": msgtype, msgtype: {"content": fits + "a"}})
    run_queue()

    assert accepted.json()["errcode"] == 0
    assert (too_long.status_code, too_long.json()) == (
        400,
        {"errcode": 40058, "errmsg": f"{msgtype}.content exceed max length {limit} bytes"},
    )
    assert [body[msgtype]["content"] for _, body in wecom.messages] == [fits]
    assert list(Message.objects.values_list("status", flat=True)) == ["sent"]


LONG_TITLE = "标题" * 40 + "!"  # 241 UTF-8 bytes: WeCom's 128 end inside a character


@pytest.mark.parametrize(
    "body",
    [
        {"msgtype": "news", "news": {"articles": [{"title": LONG_TITLE, "url": "https://x.com"}]}},
        {"msgtype": "link", "link": {"title": LONG_TITLE, "url": "https://x.com"}},
    ],
    ids=["news", "link"],
)
def test_a_title_longer_than_the_robot_takes_is_cut_as_wecom_cuts_it_not_refused(
    wecom, wecom_group, send, run_queue, body
):
    """WeCom's robot documents a news article's title as "不超过128个字节，超过会自动截断"
    (cut, like its description), so a body a tool posts to a robot URL is posted to the
    group: botadmin must not refuse it with 40058."""
    answer = send(wecom_group.bot.secret, wecom_group.conversation_id, body).json()
    assert answer["errcode"] == 0, answer

    run_queue()

    [(_, posted)] = wecom.messages
    title = posted["news"]["articles"][0]["title"]
    assert title == "标题" * 21  # 126 bytes: the next character would pass 128
    assert Message.objects.get(msgid=answer["msgid"]).status == "sent"


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


def test_a_card_with_an_action_menu_is_refused_for_a_robot_instead_of_asking_for_a_task_id(
    wecom, wecom_group, send, run_queue
):
    """The robot documents neither action_menu nor task_id (shared/spec/wecom.md section 1):
    a task_id would not make such a card go out, so the menu itself is refused."""
    for card in (
        {**NOTICE_CARD, "action_menu": CARD_MENU},
        {**NOTICE_CARD, "action_menu": CARD_MENU, "task_id": "ci-42"},
    ):
        body = {"msgtype": "template_card", "template_card": card}
        response = send(wecom_group.bot.secret, wecom_group.conversation_id, body)
        assert (response.status_code, response.json()) == (
            400,
            {
                "errcode": 40058,
                "errmsg": "invalid field: template_card.action_menu is not supported by the "
                "WeCom group robot",
            },
        )
    assert not Message.objects.exists()

    body = {"msgtype": "template_card", "template_card": NOTICE_CARD}
    assert send(wecom_group.bot.secret, wecom_group.conversation_id, body).json()["errcode"] == 0
    run_queue()
    assert [sent["template_card"] for _, sent in wecom.messages] == [NOTICE_CARD]


@pytest.mark.parametrize("field, value", [("action_menu", CARD_MENU), ("task_id", "ci-42")])
def test_the_fake_robot_refuses_a_card_with_a_field_its_documentation_does_not_list(
    wecom, field, value
):
    """The robot's template cards (documents 91770 / 99110) have neither an action_menu nor
    a task_id, the fields of cards whose clicks come back by callback: the fake refuses
    them, so a test in which botadmin sends one fails."""
    body = {"msgtype": "template_card", "template_card": {**NOTICE_CARD, field: value}}
    answer = requests.post(
        wecom.base_url + "/cgi-bin/webhook/send", params={"key": "key-sales"}, json=body, timeout=5
    )

    assert (answer.status_code, answer.json()) == (
        200,
        {"errcode": 40035, "errmsg": f"invalid parameter: template_card.{field} is not supported"},
    )
    assert wecom.messages == []


def test_a_card_given_a_task_id_reaches_the_robot_without_it(wecom, wecom_group, send, run_queue):
    """The same card body as for an app or AI bot: a robot takes no task_id, and has no use
    for one (no click comes back), so the card goes without it."""
    card = {**NOTICE_CARD, "task_id": "ci-42"}
    body = {"msgtype": "template_card", "template_card": card}
    answer = send(wecom_group.bot.secret, wecom_group.conversation_id, body).json()
    assert answer["errcode"] == 0, answer

    run_queue()

    message = Message.objects.get(msgid=answer["msgid"])
    assert message.status == "sent"
    assert message.body["template_card"] == card  # stored as given
    assert [sent for _, sent in wecom.messages] == [
        {"msgtype": "template_card", "template_card": NOTICE_CARD}
    ]


def test_a_card_stored_with_an_action_menu_before_robots_refused_it_goes_without_it(
    wecom, wecom_group, queue_message, run_queue
):
    """Since botadmin refuses an action_menu to a robot when it accepts the message
    (`Connector.card_action_menus`), only a message stored before can hold one: the robot
    connector never sends it, nor its task_id."""
    message = queue_message(wecom_group, {"msgtype": "template_card", "template_card": NOTICE_CARD})
    stored = {**NOTICE_CARD, "action_menu": CARD_MENU, "task_id": "ci-42"}
    Message.objects.filter(pk=message.pk).update(
        body={"msgtype": "template_card", "template_card": stored}
    )

    run_queue()

    assert Message.objects.get(pk=message.pk).status == "sent"
    assert [sent["template_card"] for _, sent in wecom.messages] == [NOTICE_CARD]


# --- files: upload_media, then the media_id (shared/spec/wecom.md section 1) -------------

REPORT = b"%PDF-1.4 weekly report " * 40


def file_base64(raw: bytes = REPORT, **extra) -> dict:
    encoded = base64.b64encode(raw).decode()
    file = {"base64": encoded, "md5": hashlib.md5(raw).hexdigest(), **extra}
    return {"msgtype": "file", "file": file}


@pytest.fixture
def file_host():
    with Receiver() as host:
        host.respond(200, REPORT, {"Content-Type": "application/pdf"})
        yield host


def test_a_file_by_url_is_uploaded_to_upload_media_and_posted_by_its_media_id(
    wecom, wecom_group, queue_message, run_queue, file_host
):
    url = file_host.url("/files/%E5%91%A8%E6%8A%A5.pdf?sig=1")
    message = queue_message(wecom_group, {"msgtype": "file", "file": {"url": url}})

    run_queue()

    message.refresh_from_db()
    assert message.status == "sent", message.last_error
    ((key, kind, filename, content),) = wecom.uploads
    assert (key, kind, filename, content) == ("key-sales", "file", "周报.pdf", REPORT)
    ((posted_key, posted),) = wecom.messages
    assert posted_key == "key-sales"
    assert posted == {"msgtype": "file", "file": {"media_id": posted["file"]["media_id"]}}
    assert wecom.media[posted["file"]["media_id"]][:2] == (REPORT, "file")


def test_a_file_name_taken_from_a_url_has_no_path_separator(
    wecom, wecom_group, queue_message, run_queue, file_host
):
    url = file_host.url("/files/2024%2F06%5Creport.pdf")
    queue_message(wecom_group, {"msgtype": "file", "file": {"url": url}})

    run_queue()

    assert wecom.uploads[0][2] == "2024_06_report.pdf"


def test_a_file_posted_to_the_api_as_base64_reaches_the_group_with_its_name(
    wecom, wecom_group, send, run_queue
):
    """A tool posting WeCom's file body to botadmin (bytes instead of a media_id) gets it
    delivered by a robot bot, not 40008."""
    answer = send(wecom_group.bot.secret, "wrSales", file_base64(name="周报 第3周.pdf")).json()
    assert answer["errcode"] == 0, answer

    run_queue()

    assert Message.objects.get(msgid=answer["msgid"]).status == "sent"
    ((_, _, filename, content),) = wecom.uploads
    assert (filename, content) == ("周报 第3周.pdf", REPORT)
    assert wecom.messages[0][1]["msgtype"] == "file"


def test_the_same_file_twice_is_uploaded_once_and_its_media_id_reused(
    wecom, wecom_group, queue_message, run_queue
):
    queue_message(wecom_group, file_base64(name="a.pdf"))
    queue_message(wecom_group, file_base64(name="a.pdf"))

    run_queue()

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert len(wecom.uploads) == 1
    assert wecom.messages[0][1] == wecom.messages[1][1]


def test_the_same_bytes_under_another_name_are_uploaded_again_with_that_name(
    wecom, wecom_group, queue_message, run_queue
):
    """Recipients see the name given at the upload: a media_id is reused for the same bytes
    and name only."""
    for name in ("周报.pdf", "周报-终稿.pdf", "周报.pdf"):
        queue_message(wecom_group, file_base64(name=name))

    run_queue()

    assert [filename for _, _, filename, _ in wecom.uploads] == ["周报.pdf", "周报-终稿.pdf"]
    first, second, third = (posted["file"]["media_id"] for _, posted in wecom.messages)
    assert first == third != second


def test_the_fake_robot_takes_a_media_id_only_from_the_robot_that_uploaded_it(wecom):
    """WeCom's upload_media document: a media_id is for the robot that uploaded it."""
    uploaded = requests.post(
        wecom.base_url + "/cgi-bin/webhook/upload_media",
        params={"key": "key-sales", "type": "file"},
        files={"media": ("r.pdf", REPORT)},
        timeout=5,
    ).json()
    body = {"msgtype": "file", "file": {"media_id": uploaded["media_id"]}}

    def send(key: str) -> dict:
        url = wecom.base_url + "/cgi-bin/webhook/send"
        return requests.post(url, params={"key": key}, json=body, timeout=5).json()

    assert send("key-ops") == {"errcode": 40007, "errmsg": "invalid media_id"}
    assert send("key-sales")["errcode"] == 0


def test_the_same_file_to_two_groups_is_uploaded_by_each_groups_robot(
    wecom, wecom_bot, wecom_group, make_conversation, queue_message, run_queue
):
    ops = make_conversation(wecom_bot, "wrOps", name="运维群", robot_key="key-ops")
    queue_message(wecom_group, file_base64(name="a.pdf"))
    queue_message(ops, file_base64(name="a.pdf"))
    queue_message(ops, file_base64(name="a.pdf"))

    run_queue()

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert [(key, kind) for key, kind, _, _ in wecom.uploads] == [
        ("key-sales", "file"),
        ("key-ops", "file"),
    ]
    # Each send named its own robot's media_id the first time: none was refused (40007).
    assert len(wecom.requests) == 2 + 3
    owners = [wecom.media[posted["file"]["media_id"]][3] for _, posted in wecom.messages]
    assert owners == ["key-sales", "key-ops", "key-ops"]


@NAMES_FROM_URLS
def test_a_file_name_taken_from_a_url_is_decoded_cut_keeping_its_extension_or_given_one(
    wecom, wecom_group, queue_message, run_queue, file_host, path, name
):
    queue_message(wecom_group, {"msgtype": "file", "file": {"url": file_host.url(path)}})

    run_queue()

    assert wecom.uploads[0][2] == name


def test_a_base64_file_without_a_name_is_named_by_its_bytes(
    wecom, wecom_group, queue_message, run_queue
):
    queue_message(wecom_group, file_base64())

    run_queue()

    assert wecom.uploads[0][2] == "file.pdf"


def test_a_file_whose_media_id_wecom_forgot_is_uploaded_again_and_sent(
    wecom, wecom_group, queue_message, run_queue
):
    queue_message(wecom_group, file_base64())
    run_queue()
    wecom.media.clear()  # WeCom forgot it before its 3 days were over: 40007
    message = queue_message(wecom_group, file_base64())

    run_queue()

    message.refresh_from_db()
    assert message.status == "sent", message.last_error
    assert len(wecom.uploads) == 2 and len(wecom.messages) == 2
    assert message.attempts.get().outcome == "sent"


def test_an_upload_answered_system_busy_is_retried_because_nothing_was_posted(
    wecom, wecom_group, queue_message, clock
):
    wecom.answer_next_upload(-1)
    message = queue_message(wecom_group, file_base64())

    assert deliver(message.pk, clock).result == "retry"
    message.refresh_from_db()
    assert message.status == "queued"
    attempt = message.attempts.get()
    assert (attempt.outcome, attempt.errcode) == ("retry", -1)
    assert message.last_error.startswith("media upload")
    assert wecom.messages == []

    clock.advance(3600)
    assert deliver(message.pk, clock).result == "sent"
    assert len(wecom.messages) == 1


def test_an_upload_without_an_answer_is_retried_not_uncertain(
    wecom, wecom_group, queue_message, clock, settings
):
    """A lost upload answer posted nothing to the group: unlike a lost send, it is repeated."""
    settings.BOTADMIN_HTTP_READ_TIMEOUT = 0.3
    wecom.delay = 1
    message = queue_message(wecom_group, file_base64())

    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    assert message.status == "queued"
    assert "media upload failed" in message.last_error
    assert wecom.messages == []


def test_a_file_the_robot_refuses_to_upload_fails_with_its_errmsg(
    wecom, wecom_group, queue_message, run_queue
):
    wecom.answer_next_upload(40006)
    message = queue_message(wecom_group, file_base64())

    run_queue()

    message.refresh_from_db()
    assert message.status == "failed"
    assert message.last_error == "media upload: forced by the test"
    assert message.attempts.get().errcode == 40006
    assert wecom.messages == []


def test_a_file_for_a_removed_robot_fails_at_the_upload_with_93000(
    wecom, wecom_bot, make_conversation, queue_message, run_queue
):
    group = make_conversation(wecom_bot, "wrGone", robot_key="removed-key")
    message = queue_message(group, file_base64())

    run_queue()

    message.refresh_from_db()
    assert message.status == "failed"
    assert message.attempts.get().errcode == 93000
    assert wecom.uploads == [] and wecom.messages == []


def test_a_file_url_answering_more_than_20_mb_fails_before_any_upload(
    wecom, wecom_group, queue_message, run_queue
):
    with Receiver() as host:
        host.respond(200, b"x" * (20 * 1024 * 1024 + 1))
        message = queue_message(wecom_group, {"msgtype": "file", "file": {"url": host.url("/f")}})
        run_queue()

    message.refresh_from_db()
    assert message.status == "failed"
    assert "file larger than 20 MB" in message.last_error
    assert wecom.requests == []


@pytest.mark.parametrize("msgtype", ["file", "voice"])
def test_a_media_url_answering_5_bytes_or_less_fails_before_any_upload_saying_so(
    wecom, wecom_group, queue_message, run_queue, msgtype
):
    # upload_media takes more than 5 bytes (shared/spec/wecom.md section 1).
    with Receiver() as host:
        host.respond(200, b"#!A")
        body = {"msgtype": msgtype, msgtype: {"url": host.url("/tiny")}}
        message = queue_message(wecom_group, body)
        run_queue()

    message.refresh_from_db()
    assert message.status == "failed"
    assert f"{msgtype} is only 3 bytes: at least 6 are needed" in message.last_error
    assert wecom.requests == []
    with translation.override("zh-hans"):
        word = {"file": "文件", "voice": "语音"}[msgtype]
        assert translate(message.last_error) == f"{word}只有 3 字节：至少需要 6 字节"


# --- voice: AMR bytes, uploaded as type voice ------------------------------------------


def amr_bytes(seconds: float) -> bytes:
    """AMR-NB of `seconds`: 50 frames of 12.2 kbit/s (frame type 7, 32 bytes) a second."""
    frame = bytes([0x3C]) + bytes(range(31))
    return b"#!AMR\n" + frame * int(seconds * 50)


def voice_base64(raw: bytes) -> dict:
    encoded = base64.b64encode(raw).decode()
    return {"msgtype": "voice", "voice": {"base64": encoded, "md5": hashlib.md5(raw).hexdigest()}}


def test_a_voice_posted_to_the_api_is_uploaded_as_voice_and_posted_by_its_media_id(
    wecom, wecom_group, send, run_queue
):
    raw = amr_bytes(3)
    answer = send(wecom_group.bot.secret, "wrSales", voice_base64(raw)).json()
    assert answer["errcode"] == 0, answer

    run_queue()

    message = Message.objects.get(msgid=answer["msgid"])
    assert (message.status, message.sent_as) == ("sent", "voice"), message.last_error
    ((_, kind, filename, content),) = wecom.uploads
    assert (kind, filename, content) == ("voice", "voice.amr", raw)
    ((_, posted),) = wecom.messages
    assert posted == {"msgtype": "voice", "voice": {"media_id": posted["voice"]["media_id"]}}


def test_a_voice_by_url_is_downloaded_and_sent(wecom, wecom_group, queue_message, run_queue):
    with Receiver() as host:
        host.respond(200, amr_bytes(60), {"Content-Type": "audio/amr"})
        message = queue_message(wecom_group, {"msgtype": "voice", "voice": {"url": host.url("/v")}})
        run_queue()

    message.refresh_from_db()
    assert message.status == "sent", message.last_error
    assert wecom.uploads[0][1:3] == ("voice", "v.amr")  # named by its bytes


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda: amr_bytes(61), "voice longer than 60 s"),
        (lambda: b"ID3" + b"\x00" * 100, "voice is not AMR"),
        (lambda: amr_bytes(1) + b"\x00" * 2 * 1024 * 1024, "voice larger than 2 MB"),
    ],
    ids=["too-long", "mp3", "too-large"],
)
def test_a_voice_url_the_robot_cannot_take_fails_before_any_upload(
    wecom, wecom_group, queue_message, run_queue, answer, error
):
    with Receiver() as host:
        host.respond(200, answer())
        message = queue_message(wecom_group, {"msgtype": "voice", "voice": {"url": host.url("/v")}})
        run_queue()

    message.refresh_from_db()
    assert message.status == "failed"
    assert error in message.last_error
    assert wecom.requests == []


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (amr_bytes(60.02), "voice longer than 60 seconds"),
        (b"ID3\x03\x00\x00\x00\x00\x00\x00", "voice must be AMR"),
        (b"#!AMR", "voice must be at least 6 bytes"),
    ],
    ids=["61st-second", "mp3", "cut-magic"],
)
def test_a_voice_the_robot_would_refuse_is_40058_before_it_is_stored(wecom_group, send, raw, error):
    response = send(wecom_group.bot.secret, "wrSales", voice_base64(raw))
    assert response.status_code == 400
    assert response.json()["errcode"] == 40058
    assert error in response.json()["errmsg"]
    assert not Message.objects.exists()
