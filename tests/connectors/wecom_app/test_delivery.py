"""The wecom_app connector through the delivery engine, against a fake WeCom application API."""

import threading

import pytest
from django.core.cache import cache
from django.utils import translation

from botadmin.reasons import translate
from connectors import wecom_app_api
from connectors.registry import connector_for
from conversations.models import Bot, Conversation
from conversations.pauses import resume_bot
from conversations.services import check_connection
from devtools.receiver import Receiver
from messaging.delivery import deliver
from messaging.models import DeliveryAttempt, Message
from tests.connectors.wecom_robot.test_delivery import png_bytes

from .conftest import AGENT_ID


def test_text_and_markdown_reach_message_send_with_one_token_for_many_sends(
    app_api, member, queue_message, run_queue
):
    queue_message(member, {"msgtype": "text", "text": {"content": "你好"}})
    queue_message(member, {"msgtype": "markdown", "markdown": {"content": "**注意**"}})
    for n in range(8):
        queue_message(member, {"msgtype": "text", "text": {"content": f"n{n}"}})

    run_queue()

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert app_api.token_fetches == 1
    paths = {path for path, _ in app_api.sent}
    assert paths == {"message/send"}
    first, second = app_api.sent[0][1], app_api.sent[1][1]
    assert first == {
        "msgtype": "text",
        "text": {"content": "你好"},
        "touser": "zhangsan",
        "agentid": AGENT_ID,
    }
    assert second["msgtype"] == "markdown" and second["markdown"] == {"content": "**注意**"}
    assert Message.objects.filter(upstream_msgid="").count() == 0


def test_a_group_conversation_is_an_app_chat_sent_by_chatid(
    app_api, app_bot, make_conversation, queue_message, run_queue
):
    chatid = connector_for(app_bot).create_group("项目群", "zhangsan", ["zhangsan", "lisi"])
    chat = make_conversation(app_bot, chatid, name="项目群")
    queue_message(chat, {"msgtype": "text", "text": {"content": "大家好"}})

    run_queue()

    assert app_api.sent == [
        ("appchat/send", {"msgtype": "text", "text": {"content": "大家好"}, "chatid": chatid})
    ]


def test_link_becomes_a_textcard_and_news_is_sent_as_is(app_api, member, queue_message, run_queue):
    link = {"title": "周报", "url": "https://example.com/r", "desc": "本周进展"}
    queue_message(member, {"msgtype": "link", "link": link})
    articles = [{"title": "a", "url": "https://example.com/a"}]
    queue_message(member, {"msgtype": "news", "news": {"articles": articles}})

    run_queue()

    card, news = (body for _, body in app_api.sent)
    assert card["msgtype"] == "textcard"
    assert card["textcard"] == {
        "title": "周报",
        "description": "本周进展",
        "url": "https://example.com/r",
    }
    assert news["news"]["articles"][0]["title"] == "a"


def test_links_written_without_a_scheme_reach_the_app_with_http(
    app_api, member, send_api, run_queue
):
    """WeCom's robot opens `www.qq.com` (its documentation's example); the app gets a URL."""
    link = {"title": "周报", "url": "work.example.com/r", "desc": "本周进展"}
    assert send_api("zhangsan", {"msgtype": "link", "link": link})["errcode"] == 0
    articles = [{"title": "中秋节礼品领取", "url": "www.qq.com"}]
    assert send_api("zhangsan", {"msgtype": "news", "news": {"articles": articles}})["errcode"] == 0

    run_queue()

    card, news = (body for _, body in app_api.sent)
    assert card["textcard"]["url"] == "http://work.example.com/r"
    assert news["news"]["articles"] == [{"title": "中秋节礼品领取", "url": "http://www.qq.com"}]


def test_an_image_is_uploaded_once_and_its_media_id_reused(
    app_api, member, queue_message, run_queue
):
    with Receiver() as host:
        host.respond(200, png_bytes(), {"Content-Type": "image/png"})
        for _ in range(3):
            queue_message(member, {"msgtype": "image", "image": {"url": host.url("/a.png")}})
        run_queue()

    uploads = [r for r in app_api.requests if r[0] == "media/upload"]
    assert len(uploads) == 1
    media_ids = {body["image"]["media_id"] for _, body in app_api.sent}
    assert len(media_ids) == 1 and app_api.media[media_ids.pop()][0] == png_bytes()


def test_an_expired_media_id_is_uploaded_again(app_api, member, queue_message, run_queue):
    with Receiver() as host:
        host.respond(200, png_bytes(), {"Content-Type": "image/png"})
        queue_message(member, {"msgtype": "image", "image": {"url": host.url("/a.png")}})
        run_queue()
        app_api.media.clear()  # WeCom forgot it early
        queue_message(member, {"msgtype": "image", "image": {"url": host.url("/a.png")}})
        run_queue()

    assert Message.objects.filter(status="sent").count() == 2
    assert len([r for r in app_api.requests if r[0] == "media/upload"]) == 2


def test_an_expired_token_is_refreshed_once_and_the_send_goes_through(
    app_api, member, queue_message, run_queue
):
    queue_message(member, {"msgtype": "text", "text": {"content": "one"}})
    run_queue()
    app_api.expire_tokens()
    queue_message(member, {"msgtype": "text", "text": {"content": "two"}})
    run_queue()

    assert app_api.token_fetches == 2
    assert [body["text"]["content"] for _, body in app_api.sent] == ["one", "two"]
    assert DeliveryAttempt.objects.filter(outcome="sent").count() == 2


@pytest.mark.parametrize(
    "errcode",
    [
        40014,  # invalid access_token
        42001,  # access_token expired
        40001,  # invalid credential: the token is not the latest (the secret was reset)
    ],
)
def test_a_token_message_send_refuses_is_fetched_again_and_the_send_goes_through(
    errcode, app_api, member, queue_message, run_queue
):
    """wecom.md section 4: refresh the cached token on 40014 / 42001 / 40001."""
    queue_message(member, {"msgtype": "text", "text": {"content": "one"}})
    run_queue()
    app_api.answer_next("message/send", errcode)
    two = queue_message(member, {"msgtype": "text", "text": {"content": "two"}})
    run_queue()

    two.refresh_from_db()
    assert app_api.token_fetches == 2, "the refused token was kept"
    assert two.status == "sent"
    assert [body["text"]["content"] for _, body in app_api.sent] == ["one", "two"]


def test_partly_invalid_recipients_are_recorded_on_the_attempt(
    app_api, app_bot, make_conversation, queue_message, run_queue
):
    ghost = make_conversation(app_bot, "zhangsan|ghost", kind=Conversation.Kind.USER)
    message = queue_message(ghost, {"msgtype": "text", "text": {"content": "hi"}})

    run_queue()

    message.refresh_from_db()
    assert message.status == "sent"
    assert message.attempts.get().response_text == "invaliduser: ghost"


def test_a_member_wecom_answers_0_for_but_names_invalid_is_a_failed_message(
    app_api, app_bot, make_conversation, queue_message, run_queue
):
    app_api.all_invalid_errcode = 0  # errcode 0, the lone recipient in invaliduser
    ghost = make_conversation(app_bot, "Ghost", kind=Conversation.Kind.USER)
    message = queue_message(ghost, {"msgtype": "text", "text": {"content": "hi"}})

    run_queue()

    message.refresh_from_db()
    assert message.status == "failed"
    assert "invaliduser: ghost" in message.attempts.get().response_text


def test_an_unlicensed_member_is_a_failed_message_and_a_licensed_one_still_counts(
    app_api, app_bot, member, make_conversation, queue_message, run_queue
):
    app_api.unlicensed = {"zhangsan"}
    alone = queue_message(member, {"msgtype": "text", "text": {"content": "hi"}})
    both = make_conversation(app_bot, "zhangsan|lisi", kind=Conversation.Kind.USER)
    shared = queue_message(both, {"msgtype": "text", "text": {"content": "hi"}})

    run_queue()

    alone.refresh_from_db()
    shared.refresh_from_db()
    assert alone.status == "failed" and shared.status == "sent"
    assert shared.attempts.get().response_text == "unlicenseduser: zhangsan"


@pytest.mark.parametrize(
    ("errcode", "status"),
    [(81013, "failed"), (40008, "failed"), (-1, "sent"), (45009, "sent"), (45033, "sent")],
)
def test_errcodes_fail_or_retry_as_the_spec_says(
    errcode, status, app_api, member, queue_message, run_queue
):
    app_api.answer_next("message/send", errcode)
    message = queue_message(member, {"msgtype": "text", "text": {"content": "hi"}})

    run_queue()

    message.refresh_from_db()
    assert message.status == status
    assert message.attempts.first().errcode == errcode


def test_60020_pauses_the_bot_with_the_ip_to_trust(
    app_api, app_bot, member, queue_message, run_queue
):
    app_api.answer_next("message/send", 60020)
    message = queue_message(member, {"msgtype": "text", "text": {"content": "hi"}})

    run_queue()

    app_bot.refresh_from_db()
    message.refresh_from_db()
    assert app_bot.paused_at is not None
    assert "127.0.0.1" in app_bot.paused_reason and "企业可信IP" in app_bot.paused_reason
    assert message.status == "queued" and app_api.sent == []


@pytest.mark.parametrize("errcode", [48002, 60011])
def test_missing_permissions_pause_the_bot_saying_which(
    errcode, app_api, app_bot, member, queue_message, run_queue
):
    app_api.answer_next("message/send", errcode)
    queue_message(member, {"msgtype": "text", "text": {"content": "hi"}})

    run_queue()

    app_bot.refresh_from_db()
    assert app_bot.paused_at is not None and str(errcode) in app_bot.paused_reason


def test_an_app_chat_of_an_app_no_longer_visible_to_the_root_department_pauses_the_bot(
    app_api, app_bot, make_conversation, queue_message, run_queue
):
    chatid = connector_for(app_bot).create_group("项目群", "zhangsan", ["zhangsan", "lisi"])
    chat = make_conversation(app_bot, chatid, name="项目群")
    app_api.add_department(2, "研发", parentid=1)
    app_api.visible_departments = [2]  # an administrator narrowed the app's visible range
    message = queue_message(chat, {"msgtype": "text", "text": {"content": "大家好"}})

    run_queue()

    app_bot.refresh_from_db()
    message.refresh_from_db()
    assert app_bot.paused_at is not None and "60011" in app_bot.paused_reason
    assert message.status == "queued" and app_api.sent == []


@pytest.mark.parametrize(
    ("errcode", "paused_reason"),
    [
        (-1, ""),  # busy: the next try may get one
        (60020, "企业微信拒绝来自 127.0.0.1 的调用（60020）"),
        (40001, "企业微信拒绝了企业ID或应用 Secret（gettoken: 40001"),
        (50003, "企业微信称应用（agent 1000002）已停用"),
        (48001, ""),  # an errcode the spec does not name as the settings': tried again
        (40999, ""),
    ],
    ids=["busy", "untrusted-ip", "refused", "app-disabled", "unknown-48001", "unknown-40999"],
)
def test_a_refused_access_token_pauses_the_bot_only_when_waiting_cannot_help(
    errcode, paused_reason, app_api, app_bot, member, queue_message, clock
):
    app_api.answer_next("gettoken", errcode)
    message = queue_message(member, {"msgtype": "text", "text": {"content": "hi"}})

    assert deliver(message.pk, clock).result == "retry"

    app_bot.refresh_from_db()
    with translation.override("zh-hans"):
        assert translate(app_bot.paused_reason).startswith(paused_reason)
    assert bool(app_bot.paused_at) == bool(paused_reason)
    assert app_api.sent == [] and message.attempts.get().errcode == errcode


@pytest.mark.parametrize("errcode", [48001, 40999])
def test_an_unknown_gettoken_errcode_is_retried_showing_it_and_the_next_try_sends(
    errcode, app_api, app_bot, member, queue_message, clock
):
    app_api.answer_next("gettoken", errcode)
    message = queue_message(member, {"msgtype": "text", "text": {"content": "hi"}})

    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    app_bot.refresh_from_db()
    assert message.status == "queued" and app_bot.paused_at is None
    with translation.override("en"):
        assert translate(message.last_error) == (
            f"WeCom gives the app no access token: gettoken: {errcode} forced by the test"
        )
    clock.advance(3600)
    assert deliver(message.pk, clock).result == "sent"
    assert len(app_api.sent) == 1


def test_a_token_refused_as_over_the_frequency_limit_waits_for_its_minute(
    app_api, app_bot, member, queue_message, clock
):
    app_api.answer_next("gettoken", 45009)
    message = queue_message(member, {"msgtype": "text", "text": {"content": "hi"}})

    assert deliver(message.pk, clock).result == "retry"

    message.refresh_from_db()
    assert 60 <= (message.next_attempt_at - clock()).total_seconds() <= 75
    clock.advance(76)  # its minute and at most a quarter more
    assert deliver(message.pk, clock).result == "sent"
    assert app_bot.paused_at is None and len(app_api.sent) == 1


def test_test_the_connection_says_why_wecom_refused_the_token_or_the_app(
    app_api, app_bot, superuser
):
    """The answers test_connection_check.py leaves out: a token refused for the IP, a
    missing permission (worded as a send's, naming the call), and an errcode agent/get has
    no words of ours for (shown as WeCom wrote it)."""
    with translation.override("zh-hans"):
        cache.clear()  # no token kept: the check asks for one
        app_api.answer_next("gettoken", 60020)
        ok, text = check_connection(app_bot, superuser)
        assert not ok and translate(text).startswith("企业微信拒绝来自 127.0.0.1 的调用（60020）")

        app_api.answer_next("agent/get", 60011)
        ok, text = check_connection(app_bot, superuser)
        assert not ok and translate(text).startswith(
            "企业微信拒绝了应用的 agent/get 调用：应用对该成员或群聊没有权限（60011）"
        )

        app_api.answer_next("agent/get", 40033)
        ok, text = check_connection(app_bot, superuser)
        assert (ok, translate(text)) == (False, "agent/get: 40033 forced by the test")


def test_a_wrong_secret_pauses_the_bot_and_is_never_logged(
    app_api, app_bot, member, queue_message, run_queue, caplog
):
    settings = dict(app_bot.connector_settings, app_secret="wrong-secret-value")
    Bot.objects.filter(pk=app_bot.pk).update(connector_settings=settings)
    queue_message(member, {"msgtype": "text", "text": {"content": "hi"}})

    run_queue()

    app_bot.refresh_from_db()
    assert app_bot.paused_at is not None and "40001" in app_bot.paused_reason
    assert "wrong-secret-value" not in caplog.text
    assert "wrong-secret-value" not in DeliveryAttempt.objects.get().response_text


def test_a_lost_answer_is_uncertain(app_api, member, queue_message, run_queue):
    app_api.drop_next = 1
    message = queue_message(member, {"msgtype": "text", "text": {"content": "hi"}})

    run_queue()

    message.refresh_from_db()
    assert message.status == "uncertain" and len(app_api.sent) == 1


def test_answers_naming_errcode_twice_send_nothing_for_sure(
    member, queue_message, run_queue, settings
):
    """Which of two errcodes counts is a reader's guess: a token so answered is not taken."""
    cache.clear()
    twice = b'{"errcode":40001,"errmsg":"invalid","access_token":"T","expires_in":7200,"errcode":0}'
    with Receiver() as wecom:
        wecom.respond(200, twice)
        settings.WECOM_API_BASE = wecom.url("")
        message = queue_message(member, {"msgtype": "text", "text": {"content": "hi"}})

        run_queue()

    message.refresh_from_db()
    assert message.status == "failed" and "unexpected gettoken answer" in message.last_error
    assert {request.path.split("?")[0] for request in wecom.requests} == {"/cgi-bin/gettoken"}


def test_one_process_fetches_the_token_while_the_others_wait(app_api, settings):
    # Threads stand for processes; a memory cache is shared by them as Redis is by processes.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"}
    }
    app = wecom_app_api.App(app_api.corp_id, AGENT_ID, app_api.secret)
    cache.clear()
    app_api.delay = 0.2  # a slow gettoken
    tokens = []
    threads = [
        threading.Thread(target=lambda: tokens.append(wecom_app_api.access_token(app)))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert app_api.token_fetches == 1 and len(set(tokens)) == 1


def test_members_are_paced_to_wecoms_silent_limits(
    app_api, member, queue_message, clock, run_queue
):
    for n in range(31):
        queue_message(member, {"msgtype": "text", "text": {"content": f"n{n}"}})

    run_queue()

    sent = Message.objects.order_by("sent_at").values_list("sent_at", flat=True)
    span = (sent[len(sent) - 1] - sent[0]).total_seconds()
    # 31 messages to one member never fit in one minute (WeCom would drop the 31st).
    assert span >= 60


def test_a_wrong_agent_id_pauses_the_bot_instead_of_failing_each_message(
    app_api, app_bot, member, queue_message, run_queue
):
    settings = dict(app_bot.connector_settings, agent_id="1000003")
    Bot.objects.filter(pk=app_bot.pk).update(connector_settings=settings)
    messages = [
        queue_message(member, {"msgtype": "text", "text": {"content": f"n{n}"}}) for n in range(3)
    ]

    run_queue()

    app_bot.refresh_from_db()
    assert app_bot.paused_at is not None
    assert "40056" in app_bot.paused_reason and "1000003" in app_bot.paused_reason
    with translation.override("zh-hans"):
        reason = app_bot.paused_reason.translated()
        assert reason.endswith("请在机器人的连接器设置中更正。")  # the pause banner: Resume
    assert {Message.objects.get(pk=m.pk).status for m in messages} == {"queued"}
    assert [r[0] for r in app_api.requests].count("message/send") == 1


def test_a_disabled_app_pauses_the_bot_instead_of_failing_each_message(
    app_api, app_bot, member, make_conversation, queue_message, run_queue, superuser
):
    chatid = connector_for(app_bot).create_group("项目群", "zhangsan", ["zhangsan", "lisi"])
    chat = make_conversation(app_bot, chatid, name="项目群")
    app_api.app_closed = True  # an admin disabled (停用) the app: WeCom answers 50003
    messages = [
        queue_message(member, {"msgtype": "text", "text": {"content": f"n{n}"}}) for n in range(3)
    ]
    messages.append(queue_message(chat, {"msgtype": "text", "text": {"content": "大家好"}}))

    run_queue()

    app_bot.refresh_from_db()
    assert app_bot.paused_at is not None
    with translation.override("zh-hans"):
        reason = app_bot.paused_reason.translated()
    assert "50003" in reason and reason.endswith("请在企业微信管理后台启用该应用。")
    assert {Message.objects.get(pk=m.pk).status for m in messages} == {"queued"}
    # The member's other messages wait behind the pause instead of being tried in turn.
    assert [r[0] for r in app_api.requests].count("message/send") == 1 and app_api.sent == []

    app_api.app_closed = False  # enabled again: resuming the bot sends what waited
    resume_bot(app_bot, superuser)
    run_queue()

    assert {Message.objects.get(pk=m.pk).status for m in messages} == {"sent"}
