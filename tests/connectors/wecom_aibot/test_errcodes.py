"""WeCom's errcodes on AI bot sends and media uploads: busy or too fast waits and tries
again, a refusal fails."""

import base64
import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from botadmin.reasons import Reason, translate
from conversations.models import Conversation
from messaging.delivery import deliver
from messaging.models import Message
from tests.images import image_bytes
from tests.polling import wait_until

pytestmark = pytest.mark.usefixtures("unpaced")  # a second attempt right away


@pytest.fixture
def group(aibot):
    return Conversation.objects.create(bot=aibot, conversation_id="wrGroupA", kind="group")


@pytest.fixture
def queued(aibot, group, client):
    def queue(body: dict, conversation_id: str = "wrGroupA") -> Message:
        answer = client.post(
            "/api/send",
            data=body,
            content_type="application/json",
            query_params={"secret": aibot.secret, "conversation_id": conversation_id},
        ).json()
        assert answer["errcode"] == 0, answer
        return Message.objects.get(msgid=answer["msgid"])

    return queue


MARKDOWN = {"msgtype": "markdown", "markdown": {"content": "构建完成"}}


def image_message() -> dict:
    picture = image_bytes()
    return {"msgtype": "image", "image": {"base64": base64.b64encode(picture).decode(),
                                          "md5": hashlib.md5(picture).hexdigest()}}  # fmt: skip


def seconds_until_next_attempt(message: Message) -> float:
    message.refresh_from_db()
    return (message.next_attempt_at - timezone.now()).total_seconds()


def due_now(message: Message) -> None:
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() - timedelta(1))


def received_in_group(aibot_server, msgid: str) -> str:
    """Someone in wrGroupA @-mentions the bot (message `msgid`, stored once this returns):
    the callback's req_id."""
    req_id = aibot_server.push_message(
        "bot1",
        {"msgid": msgid, "chatid": "wrGroupA", "chattype": "group", "from": {"userid": "lisi"},
         "msgtype": "text", "text": {"content": "@助手 状态？"}},
    )  # fmt: skip
    assert wait_until(lambda: Message.objects.filter(upstream_msgid=msgid).exists(), timeout=30)
    return req_id


def test_45009_waits_a_minute_then_the_message_goes_out(aibot_server, connected, queued):
    aibot_server.answer_next(45009)
    message = queued(MARKDOWN)

    assert deliver(message.pk).result == "retry"

    assert seconds_until_next_attempt(message) >= 58
    assert message.status == "queued"
    attempt = message.attempts.get()
    assert (attempt.outcome, attempt.errcode) == ("retry", 45009)
    assert "api freq out of limit" in attempt.response_text
    assert aibot_server.sent == []
    due_now(message)
    assert deliver(message.pk).result == "sent"
    assert [cmd for _, cmd, _ in aibot_server.sent] == ["aibot_send_msg"]


def test_messages_refused_with_45009_together_come_back_spread_over_a_quarter_minute(
    aibot, aibot_server, connected, client
):
    """Given messages to several chats WeCom refuses with 45009 in the same second, when
    each waits out the minute, then not all of them call again in the same second: each
    waits 60 to 75 s (a minute and a random part of a quarter more)."""
    messages = []
    for n in range(8):
        Conversation.objects.create(bot=aibot, conversation_id=f"wrGroup{n}", kind="group")
        answer = client.post(
            "/api/send",
            data=MARKDOWN,
            content_type="application/json",
            query_params={"secret": aibot.secret, "conversation_id": f"wrGroup{n}"},
        ).json()
        messages.append(Message.objects.get(msgid=answer["msgid"]))
    aibot_server.answer_next(*[45009] * len(messages))

    for message in messages:
        assert deliver(message.pk).result == "retry"

    waits = []
    for message in messages:
        message.refresh_from_db()
        refused = message.attempts.get()
        assert refused.errcode == 45009
        waits.append((message.next_attempt_at - refused.started_at).total_seconds())
    assert all(60 <= wait <= 76 for wait in waits), waits
    assert max(waits) - min(waits) > 1, waits  # 8 draws over 15 s: not one second
    assert aibot_server.sent == []


@pytest.mark.parametrize("errcode", [-1, 45033])
def test_system_busy_is_tried_again_with_backoff(errcode, aibot_server, connected, queued):
    aibot_server.answer_next(errcode)
    message = queued(MARKDOWN)

    assert deliver(message.pk).result == "retry"

    message.refresh_from_db()
    assert message.status == "queued" and message.attempts.get().errcode == errcode
    assert seconds_until_next_attempt(message) < 58  # the usual backoff, not the minute
    due_now(message)
    assert deliver(message.pk).result == "sent"


def test_a_documented_errcode_fails_the_message_with_wecoms_words(aibot_server, connected, queued):
    aibot_server.answer_next(40058)
    message = queued(MARKDOWN)

    assert deliver(message.pk).result == "failed"

    message.refresh_from_db()
    assert message.status == "failed" and message.next_attempt_at is None
    assert message.last_error == "40058 invalid parameter"
    assert message.attempts.get().errcode == 40058


def test_a_push_to_a_group_chat_refused_without_a_reason_names_the_likely_cause(
    aibot_server, connected, queued
):
    """Given a group chat WeCom refuses a push to with an errcode it documents nowhere
    (what it answers a chat that never talked to the bot is written nowhere), when the
    message is delivered, then it fails saying the bot is likely not in the group chat,
    in the operator's language, WeCom's errcode and errmsg kept verbatim."""
    aibot_server.answer_next(600123)
    message = queued(MARKDOWN)

    assert deliver(message.pk).result == "failed"

    message.refresh_from_db()
    assert message.status == "failed" and message.next_attempt_at is None
    assert isinstance(message.last_error, Reason)
    assert message.last_error.params == {"answer": "600123 forced by the test"}
    assert "most likely the bot is not in the group chat" in message.last_error
    with translation.override("zh-hans"):
        shown = translate(message.last_error)
    assert "机器人不在该群聊中" in shown and "600123 forced by the test" in shown
    attempt = message.attempts.get()
    assert (attempt.outcome, attempt.errcode) == ("failed", 600123)


def test_a_push_to_a_member_refused_without_a_reason_says_they_must_message_the_bot(
    aibot, aibot_server, connected, queued
):
    Conversation.objects.create(bot=aibot, conversation_id="lisi", kind="user")
    message = queued(MARKDOWN, "lisi")
    aibot_server.answer_next(600123)

    assert deliver(message.pk).result == "failed"

    message.refresh_from_db()
    assert message.last_error.params == {"answer": "600123 forced by the test"}
    assert "most likely the member has not sent the bot a message yet" in message.last_error
    with translation.override("zh-hans"):
        assert "该成员还没有给机器人发过消息" in translate(message.last_error)
    assert message.attempts.get().errcode == 600123


def test_a_reply_refused_without_a_reason_keeps_wecoms_words(aibot_server, connected, queued):
    """A reply answers a chat that just talked to the bot: the push's likely cause would
    mislead, so WeCom's words stand alone."""
    received_in_group(aibot_server, "in1")
    aibot_server.answer_next(600123)
    message = queued({**MARKDOWN, "reply_to": "in1"})

    assert deliver(message.pk).result == "failed"

    message.refresh_from_db()
    assert message.last_error == "600123 forced by the test"
    assert not isinstance(message.last_error, Reason)
    assert message.attempts.get().errcode == 600123


def test_a_rate_limited_upload_waits_a_minute_too(aibot_server, connected, queued):
    aibot_server.answer_next_upload(45009)
    message = queued(image_message())

    assert deliver(message.pk).result == "retry"

    assert seconds_until_next_attempt(message) >= 58
    assert message.attempts.get().errcode == 45009
    due_now(message)
    assert deliver(message.pk).result == "sent"
    assert aibot_server.sent[0][2]["msgtype"] == "image"


@pytest.mark.parametrize(
    ("stage", "errcode", "errmsg", "where"),
    [
        ("init", 40006, "invalid file size", "init"),
        ("init", 40004, "invalid media type", "init"),
        ("chunk", 40009, "invalid image size", "chunk 0"),
        ("finish", 600123, "forced by the test", "finish"),
    ],
)
def test_an_upload_wecom_refuses_for_good_fails_at_once_with_its_words(
    stage, errcode, errmsg, where, aibot_server, connected, queued
):
    aibot_server.answer_next_upload(errcode, stage=stage)
    message = queued(image_message())

    assert deliver(message.pk).result == "failed"

    message.refresh_from_db()
    assert message.status == "failed" and message.next_attempt_at is None
    assert isinstance(message.last_error, Reason)
    assert message.last_error == f"media upload ({where}): {errcode} {errmsg}"
    assert message.last_error.params["answer"] == f"{errcode} {errmsg}"  # WeCom's, verbatim
    assert message.attempts.get().errcode == errcode
    assert aibot_server.sent == []


@pytest.mark.parametrize("stage", ["init", "chunk", "finish"])
@pytest.mark.parametrize("errcode", [-1, 45033])
def test_a_busy_upload_is_tried_again_with_backoff(stage, errcode, aibot_server, connected, queued):
    aibot_server.answer_next_upload(errcode, stage=stage)
    message = queued(image_message())

    assert deliver(message.pk).result == "retry"

    message.refresh_from_db()
    assert message.status == "queued" and message.attempts.get().errcode == errcode
    assert seconds_until_next_attempt(message) < 58
    due_now(message)
    assert deliver(message.pk).result == "sent"
    assert [body["msgtype"] for _, _, body in aibot_server.sent] == ["image"]


def test_a_rate_limited_chunk_waits_a_minute(aibot_server, connected, queued):
    aibot_server.answer_next_upload(45009, stage="chunk")
    message = queued(image_message())

    assert deliver(message.pk).result == "retry"

    assert seconds_until_next_attempt(message) >= 58


def test_a_rate_limited_reply_is_tried_again_as_a_reply_while_its_window_lasts(
    aibot_server, connected, queued
):
    req_id = received_in_group(aibot_server, "in1")
    aibot_server.answer_next(45009)
    message = queued({**MARKDOWN, "reply_to": "in1"})

    assert deliver(message.pk).result == "retry"
    due_now(message)
    assert deliver(message.pk).result == "sent"

    ((_, cmd, body),) = aibot_server.sent
    assert cmd == "aibot_respond_msg" and body["req_id"] == req_id
