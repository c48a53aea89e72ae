"""Fixtures for the WeCom app connector's tests: the fake API, a bot set up for it, its members,
and a simulated China morning to run its daily caps in."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache

from connectors import wecom_app_callback
from connectors.wecom_app_crypto import CallbackCrypto
from conversations.models import Bot, Conversation
from devtools.fake_wecom_app import FakeWeComApp
from messaging import delivery
from messaging.delivery_claim import next_due_time
from tests.messaging.conftest import (  # noqa: F401  (the delivery engine's fixtures)
    _fresh_cache,
    _fresh_rate_limits,
    clock,
    queue_message,
    run_queue,
)

CORP_ID = "ww1436e0e65a779aee"
AGENT_ID = 1000002
SECRET = "app-secret-0123456789"
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
# WeCom counts its daily caps by China's calendar day.
CHINA = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _fresh_callback_notes():
    """The callback writes a passed check's status once per 10 s per process (`_note`): a
    test's URL check must not be skipped for one an earlier test made for the same bot id,
    whose status went with that test's database."""
    wecom_app_callback._last_noted.clear()
    yield
    wecom_app_callback._last_noted.clear()


@pytest.fixture
def app_api(settings):
    cache.clear()
    with FakeWeComApp(corp_id=CORP_ID, secret=SECRET, agent_id=AGENT_ID) as fake:
        fake.add_user("zhangsan", "张三")
        fake.add_user("lisi", "李四")
        settings.WECOM_API_BASE = fake.base_url
        yield fake
    cache.clear()


def app_settings(**overrides) -> dict:
    return {
        "corp_id": CORP_ID,
        "agent_id": str(AGENT_ID),
        "app_secret": SECRET,
        "callback_token": TOKEN,
        "encoding_aes_key": AES_KEY,
        "proxy_url": "",
    } | overrides


@pytest.fixture
def app_bot(make_bot) -> Bot:
    return make_bot(
        name="hr-app",
        connector="wecom_app",
        agent_url="",
        agent_token="",
        rate_limit_per_minute=10_000,
        connector_settings=app_settings(),
    )


@pytest.fixture
def send_api(client, app_bot):
    """POST /api/send as the app bot; the answer's JSON."""

    def send(conversation_id: str, body: dict) -> dict:
        return client.post(
            "/api/send",
            body,
            content_type="application/json",
            query_params={"secret": app_bot.secret, "conversation_id": conversation_id},
        ).json()

    return send


@pytest.fixture
def member(app_bot, make_conversation) -> Conversation:
    return make_conversation(app_bot, "zhangsan", name="张三", kind=Conversation.Kind.USER)


@pytest.fixture
def sender_crypto() -> CallbackCrypto:
    """What WeCom encrypts with (our implementation; tests cross-check it with wechatpy)."""
    return CallbackCrypto(TOKEN, AES_KEY, CORP_ID)


@pytest.fixture
def china_morning(clock):  # noqa: F811
    """The simulated clock at the next 10:00 in China, so a day's sends all fall in one day."""
    local = clock.now.astimezone(CHINA)
    morning = datetime.combine(local.date() + timedelta(days=1), time(10), tzinfo=CHINA)
    clock.now = clock.start = morning.astimezone(UTC)
    return clock


def next_china_midnight(moment: datetime) -> datetime:
    tomorrow = moment.astimezone(CHINA).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(), tzinfo=CHINA).astimezone(UTC)


def drain_before(clock, until: datetime) -> None:  # noqa: F811
    """Run the delivery engine as `run_queue` does, but only for what is due before `until`."""
    for _ in range(1000):
        delivery.drain(clock)
        upcoming = next_due_time(clock())
        if upcoming is None or upcoming >= until:
            return
        clock.now = max(clock.now, upcoming)
    raise AssertionError("the queue did not drain")
