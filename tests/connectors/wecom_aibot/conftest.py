import asyncio
import threading

import pytest

from connectors.aibot_gateway import Gateway
from conversations.models import Bot, BotConnection
from devtools.fake_wecom_aibot import FakeAIBotServer
from tests.polling import wait_until


class RunningGateway:
    """A gateway (what `manage.py aibot_gateway` runs) on its own thread and event loop."""

    def __init__(self, holder: str):
        self.gateway = Gateway(holder)
        self.holder = holder
        self._stop: asyncio.Event | None = None

    def __enter__(self):
        ready = threading.Event()

        def run():
            async def main():
                self._stop = asyncio.Event()
                self.loop = asyncio.get_running_loop()
                ready.set()
                await self.gateway.run(self._stop)

            asyncio.run(main())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self):
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(20)
            assert not self._thread.is_alive(), "the gateway did not stop"

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture
def fast_gateway(settings, tmp_path):
    settings.WECOM_AIBOT_INBOX_DIR = tmp_path / "aibot-inbox"
    settings.WECOM_AIBOT_POLL_SECONDS = 0.2
    settings.WECOM_AIBOT_LEASE_SECONDS = 2
    settings.WECOM_AIBOT_HEARTBEAT_SECONDS = 0.3
    return settings


@pytest.fixture
def aibot_server(fast_gateway):
    with FakeAIBotServer({"bot1": "secret1"}) as server:
        fast_gateway.WECOM_AIBOT_WS_URL = server.url
        yield server


@pytest.fixture
def make_aibot(transactional_db):
    def make(name: str = "helper", bot_id: str = "bot1", secret: str = "secret1", **fields) -> Bot:
        return Bot.objects.create(
            name=name,
            connector="wecom_aibot",
            connector_settings={"bot_id": bot_id, "bot_secret": secret},
            **fields,
        )

    return make


@pytest.fixture
def aibot(make_aibot) -> Bot:
    return make_aibot()


@pytest.fixture
def unpaced(settings, aibot):
    """Sends and attempts right after each other: the pace would otherwise hold them."""
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0
    Bot.objects.filter(pk=aibot.pk).update(rate_limit_per_minute=600)


@pytest.fixture
def start_gateway():
    running = []

    def start(holder: str = "gateway-a") -> RunningGateway:
        gateway = RunningGateway(holder).__enter__()
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        gateway.stop()


@pytest.fixture
def connected(aibot_server, aibot, start_gateway):
    """A gateway holding the bot's subscribed connection."""
    gateway = start_gateway()
    aibot_server.wait_connected("bot1")
    assert wait_until(lambda: 1 in [len(aibot_server.subscriptions)], timeout=30)

    # The server counts the subscription before the gateway has read its answer; a
    # send in between is answered "not connected" (retry).
    def subscribed() -> bool:
        session = gateway.gateway.sessions.get(aibot.pk)
        return session is not None and session.subscribed

    assert wait_until(subscribed, timeout=30)
    # The session records "connected" in the database just after; what the console and
    # the connection test read is that row.
    assert wait_until(
        lambda: BotConnection.objects.filter(
            pk=aibot.pk, state=BotConnection.State.CONNECTED
        ).exists(),
        timeout=30,
    )
    return gateway
