"""Fixtures for the WeCom app connector's tests: the fake API, a bot set up for it, its members."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from connectors import wecom_app_callback
from connectors.wecom_app_crypto import CallbackCrypto
from conversations.models import Bot, Conversation
from devtools.fake_wecom_app import FakeWeComApp
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
