"""The bridge connector against a real agent: bridge-protocol.md sections 1 and 2."""

import json

import pytest
from django.utils import translation

from botadmin.reasons import Reason, translate
from connectors.base import ConnectorError, Outcome
from connectors.bridge import EARLIER_GROUPS_ON_FIRST_PAGE
from connectors.registry import connector_for

TEXT = {"msgtype": "text", "text": {"content": "hello"}}


@pytest.fixture
def conversation(bridge_bot, make_conversation):
    return make_conversation(bridge_bot, "wrDemoGroup0001")


@pytest.fixture
def connector(bridge_bot):
    return connector_for(bridge_bot)


def test_a_send_reaches_the_agent_with_token_idempotency_key_and_the_body(
    connector, conversation, agent
):
    result = connector.send("m1", conversation, TEXT)
    assert result.outcome == Outcome.SENT
    assert result.upstream_msgid.startswith("demo-")
    assert agent.sent["m1"].body == {"id": "m1", "conversation_id": "wrDemoGroup0001", **TEXT}


def test_a_repeated_id_is_answered_alike_and_sent_once(connector, conversation, agent):
    first = connector.send("m1", conversation, TEXT)
    second = connector.send("m1", conversation, TEXT)
    assert second.outcome == Outcome.SENT and second.upstream_msgid == first.upstream_msgid
    assert len(agent.sent) == 1 and len(agent.send_requests) == 2


@pytest.mark.parametrize("errcode", [45009, -1])
def test_busy_errcodes_mean_retry_later(connector, conversation, agent, errcode):
    agent.behaviour.errcode = errcode
    assert connector.send("m1", conversation, TEXT).outcome == Outcome.RETRY


def test_any_other_errcode_fails_for_good_with_the_errmsg(connector, conversation, agent):
    agent.behaviour.errcode = 40058
    result = connector.send("m1", conversation, TEXT)
    assert result.outcome == Outcome.FAILED
    assert result.errcode == 40058 and "40058" in result.detail
    assert not result.account_problem


def test_a_wrong_token_fails_and_flags_the_account(connector, conversation, bridge_bot):
    bridge_bot.agent_token = "x" * 40
    result = connector_for(bridge_bot).send("m1", conversation, TEXT)
    assert result.outcome == Outcome.FAILED and result.http_status == 401
    assert "token" in result.account_problem
    with translation.override("zh-hans"):  # the setting as the bot page names it
        assert "请检查代理令牌（连接器设置）" in translate(result.account_problem)
    assert "agent_token" not in result.account_problem


def test_a_pause_stored_by_an_earlier_release_still_reads_in_chinese():
    stored = Reason(
        "the agent refused botadmin's token (HTTP %(status)s); check agent_token", status=401
    )
    with translation.override("zh-hans"):
        assert (
            translate(stored)
            == "代理拒绝了 botadmin 的令牌（HTTP 401），请检查代理令牌（连接器设置）"
        )


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_agent_busy_or_down_statuses_mean_retry(connector, conversation, agent, status):
    agent.behaviour.http_status = status
    result = connector.send("m1", conversation, TEXT)
    assert result.outcome == Outcome.RETRY and result.http_status == status


def test_a_non_json_answer_is_a_protocol_error_retried_with_the_body_logged(
    connector, conversation, agent, caplog
):
    agent.behaviour.non_json = True
    result = connector.send("m1", conversation, TEXT)
    assert result.outcome == Outcome.RETRY and result.detail == "protocol error: not JSON"
    assert "Agent answered a send with HTTP 200: <html>proxy error</html>" in caplog.text


@pytest.mark.parametrize(
    "status, raw, detail",
    [
        (
            200,
            b'{"errcode": 0, "errmsg": "ok", "msgid": "a\\u0000b"}',
            "protocol error: answer.msgid contains a NUL character",
        ),
        (200, b'{"errcode": 40058, "errmsg": "bad", "x": NaN}', "protocol error: not JSON"),
        (502, b"\x1f\x8b\x08\x00\x00gzip", "agent busy or down (HTTP 502)"),
    ],
)
def test_an_answer_no_database_could_store_is_a_protocol_error_retried(
    connector, conversation, agent, status, raw, detail
):
    # Stored as is, NUL and NaN would fail the worker on PostgreSQL at every retry.
    agent.behaviour.raw_answer = (status, raw)
    result = connector.send("m1", conversation, TEXT)
    assert result.outcome == Outcome.RETRY and result.detail == detail
    assert not result.upstream_msgid


@pytest.mark.parametrize(
    "raw, key",
    [
        (b'{"errcode": 0, "errcode": 40058, "errmsg": "bad"}', "errcode"),
        (b'{"errcode": 0, "errmsg": "ok", "extra": [{"a": 1, "a": 1}]}', "extra.0.a"),
    ],
)
def test_an_answer_naming_a_key_twice_is_a_protocol_error_retried_naming_the_key(
    connector, conversation, agent, caplog, raw, key
):
    # Readers of JSON differ on which of two errcodes they take: the answer says nothing sure.
    agent.behaviour.raw_answer = (200, raw)
    result = connector.send("m1", conversation, TEXT)
    assert result.outcome == Outcome.RETRY
    assert result.detail == f"protocol error: duplicate key {key}"
    with translation.override("zh-hans"):
        assert translate(result.detail) == f"协议错误：重复的键 {key}"
    assert "Agent answered a send with HTTP 200: {" in caplog.text


def test_an_agent_that_is_down_means_retry(connector, conversation, agent):
    agent.go_down()
    assert connector.send("m1", conversation, TEXT).outcome == Outcome.RETRY
    agent.come_back()
    assert connector.send("m1", conversation, TEXT).outcome == Outcome.SENT


def test_a_timeout_means_retry_because_the_agent_dedupes(settings, connector, conversation, agent):
    settings.BRIDGE_READ_TIMEOUT = 0.2
    agent.behaviour.delay = 1
    result = connector.send("m1", conversation, TEXT)
    assert result.outcome == Outcome.RETRY and "timed out" in result.detail


def test_contacts_are_listed_page_by_page(connector, agent):
    agent.users = [{"conversation_id": f"u{i}", "name": f"user {i}"} for i in range(5)]
    agent.behaviour.page_size = 2
    pages, cursor = [], None
    while True:
        page = connector.fetch_contacts("user", cursor)
        pages.append([item["conversation_id"] for item in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == [["u0", "u1"], ["u2", "u3"], ["u4"]]


def test_a_failing_contact_page_raises(connector, agent):
    agent.behaviour.page_size = 1
    agent.behaviour.fail_contacts_on_page = 2
    connector.fetch_contacts("group")
    with pytest.raises(ConnectorError, match="500"):
        connector.fetch_contacts("group", "1")


def test_check_reports_what_the_agent_answered(connector):
    assert "3 groups" in connector.check()


def test_check_counts_one_group_in_the_singular(connector, agent):
    agent.behaviour.page_size = 1

    answer = connector.check()

    assert answer == "agent answered: 1 group on the first page"
    with translation.override("zh-hans"):
        assert translate(answer) == "代理已应答：第一页有 1 个群聊"
        earlier = Reason(EARLIER_GROUPS_ON_FIRST_PAGE, count=1)
        assert translate(earlier) == "代理已应答：第一页有 1 个群聊"


def test_the_demo_inbound_samples_follow_the_seed_format():
    from connectors.demo_agent import InboundPoster
    from conversations.demo import DEMO_GROUPS, DEMO_USERS

    poster = InboundPoster("http://127.0.0.1:9/api/callback", "s" * 43, DEMO_USERS, DEMO_GROUPS)
    fields = {
        "text": {"content"},
        "image": {"cdn_type", "cdn"},
        "link": {"title", "url"},
        "miniprogram": {"appicon", "appid", "appname", "page_path", "title"},
    }
    for msgtype, keys in fields.items():
        body = poster.sample(msgtype)
        assert {"secret", "msgtype", "conversation_id", "sender", msgtype} <= set(body)
        assert set(body[msgtype]) == keys
        json.dumps(body, ensure_ascii=False)


def test_the_demo_agent_writes_a_private_chat_as_that_user_and_replies_there_as_them():
    import time

    from connectors.demo_agent import InboundPoster, SentMessage
    from conversations.demo import DEMO_GROUPS, DEMO_USERS

    poster = InboundPoster("http://127.0.0.1:9/api/callback", "s" * 43, DEMO_USERS, DEMO_GROUPS)
    user_ids = {user["conversation_id"] for user in DEMO_USERS}
    private = [b for b in (poster.sample() for _ in range(200)) if b["conversation_type"] == "user"]

    assert private, "200 samples without a private chat"
    assert all(body["sender"] == body["conversation_id"] for body in private)

    sent = SentMessage(
        "1", {"conversation_id": "wmDemoUser0003", "msgtype": "text"}, "m1", time.time()
    )
    for _ in range(20):
        reply = poster.reply_to(sent)
        assert (reply["sender"], reply["sender_name"]) == ("wmDemoUser0003", "王芳")
    group = SentMessage(
        "2", {"conversation_id": "wrDemoGroup0001", "msgtype": "text"}, "m2", time.time()
    )
    assert poster.reply_to(group)["sender"] in user_ids


@pytest.mark.parametrize("url", ["not a url", "ftp://agent.internal/"])
def test_a_bad_agent_url_is_refused_with_one_message(url):
    from connectors.bridge import BridgeSettings

    form = BridgeSettings(data={"agent_url": url, "agent_token": "t" * 40})

    assert not form.is_valid()
    (error,) = form.errors["agent_url"]  # Django's URLField and the http(s) check agreed
    assert "URL" in error
