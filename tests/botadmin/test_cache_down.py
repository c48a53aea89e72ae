"""With the cache server (Redis in production) down, the APIs keep accepting
messages. The cache holds rate-limit counters, the dashboard's day counts and
copies of the sessions, nothing that must survive (tests/console/test_cache_down.py:
the console works too)."""

import base64
import hashlib
import json
import time
from datetime import UTC, datetime

from botadmin import health
from connectors import aibot_inbox
from connectors.base import DailyCap, Outcome
from connectors.registry import connector_for
from messaging import delivery_caps
from messaging.models import Message
from tests.fakes.wecom import FakeWeCom
from tests.messaging.support import callback_body


def test_the_apis_accept_messages_while_the_cache_is_down(cache_down, client, bot, group, settings):
    settings.BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE = 3
    url = f"/api/send?secret={bot.secret}&conversation_id={group.conversation_id}"
    body = json.dumps({"msgtype": "text", "text": {"content": "hi"}})

    answers = [client.post(url, body, content_type="application/json").json() for _ in range(4)]
    callback = client.post(
        "/api/callback", json.dumps(callback_body("text", bot)), content_type="application/json"
    )

    # The limit is a protection: while it cannot be counted, nothing is refused by it.
    assert [a["errcode"] for a in answers] == [0, 0, 0, 0]
    assert callback.json() == {"errcode": 0, "errmsg": "ok"}
    assert Message.objects.filter(direction="out").count() == 4
    assert Message.objects.filter(direction="in").count() == 1


def test_a_hung_cache_delays_the_send_api_by_its_timeout_only(
    hung_cache, client, bot, group, settings
):
    settings.BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE = 100
    url = f"/api/send?secret={bot.secret}&conversation_id={group.conversation_id}"
    body = json.dumps({"msgtype": "text", "text": {"content": "hi"}})

    start = time.monotonic()
    answers = [client.post(url, body, content_type="application/json").json() for _ in range(20)]
    took = time.monotonic() - start

    assert [a["errcode"] for a in answers] == [0] * 20
    assert Message.objects.count() == 20
    # One timeout (1 s) trying the shared counter; then this process stops asking for a
    # while. A timeout per request would take 20 s; the margin is for a loaded machine
    # (20 accepted requests took up to 5 s there).
    assert 1 <= took < 10


def test_a_robot_file_is_still_sent_without_the_cache_uploaded_each_time(
    cache_down, make_bot, make_conversation, settings
):
    """The cache only saves repeated uploads of the same bytes (connectors/wecom_robot.py)."""
    raw = b"%PDF-1.4 report"
    file = {"base64": base64.b64encode(raw).decode(), "md5": hashlib.md5(raw).hexdigest()}
    bot = make_bot(connector="wecom_robot", agent_url="", agent_token="")
    group = make_conversation(bot, "wrSales", robot_key="key-sales")
    with FakeWeCom(keys={"key-sales"}) as wecom:
        settings.WECOM_API_BASE = wecom.base_url
        connector = connector_for(bot)
        results = [
            connector.send(f"m{n}", group, {"msgtype": "file", "file": file}) for n in range(2)
        ]

    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.SENT]
    assert len(wecom.uploads) == 2 and len(wecom.messages) == 2


def test_the_ai_bot_inbox_backlog_goes_unreported_while_the_cache_is_down(cache_down, db):
    aibot_inbox.report_backlog("host-a:1:aa", unstored=2, orphaned=0)  # a gateway's poll goes on

    assert aibot_inbox.backlog_by_host() == {}
    assert health.run_checks(["aibot_inbox"])["aibot_inbox"].status == "skipped"


def test_a_message_with_a_daily_cap_is_not_sent_uncounted_while_the_cache_is_down(cache_down):
    """WeCom would drop it silently past its cap: it waits (RETRY) until it can be counted."""
    cap = DailyCap("test:cap", limit=5, what="a cap of 5", zone="Asia/Shanghai", zone_name="CST")
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

    result = delivery_caps.take([cap], 1, now)

    assert (result.outcome, result.hold_until) == (Outcome.RETRY, None)
    assert [use.used for use in delivery_caps.used_today([cap], now)] == [None]
