"""Real `manage.py aibot_gateway` processes: one holds a bot, another waits; a killed one loses
no callback it read."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conversations.models import BotConnection
from devtools.processes import ROOT, database_url
from messaging.models import Message
from tests.polling import wait_until

from .support import messages_refused


@pytest.fixture
def gateway_process(aibot_server, settings):
    started = []

    def start() -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "WECOM_AIBOT_WS_URL": aibot_server.url,
            "WECOM_AIBOT_POLL_SECONDS": "0.3",
            "WECOM_AIBOT_LEASE_SECONDS": "3",
            "WECOM_AIBOT_HEARTBEAT_SECONDS": "1",
            "WECOM_AIBOT_INBOX_DIR": str(settings.WECOM_AIBOT_INBOX_DIR),
            "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
        }
        process = subprocess.Popen(
            [sys.executable, "manage.py", "aibot_gateway"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(20)


def holder(bot) -> str:
    return BotConnection.objects.filter(pk=bot.pk).values_list("holder", flat=True).first() or ""


def test_a_second_gateway_process_waits_and_takes_over_only_when_the_first_lease_expires(
    aibot_server, aibot, gateway_process
):
    first = gateway_process()
    aibot_server.wait_connected("bot1", timeout=30)
    assert wait_until(lambda: str(first.pid) in holder(aibot), timeout=10)
    second = gateway_process()
    time.sleep(5)  # the second gateway started and polled many times

    assert len(aibot_server.subscriptions) == 1
    assert str(first.pid) in holder(aibot)

    first.send_signal(signal.SIGKILL)  # a crash: no release, the lease runs out
    first.wait(10)
    killed_at = time.monotonic()
    assert wait_until(lambda: str(second.pid) in holder(aibot), timeout=20)
    assert time.monotonic() - killed_at >= 1  # not before the lease expired
    aibot_server.wait_connected("bot1", timeout=10)
    assert len(aibot_server.subscriptions) == 2
    assert aibot_server.kicks == 0  # nobody was kicked


def test_callbacks_a_gateway_read_before_it_was_killed_are_stored_after_its_restart(
    aibot_server, aibot, gateway_process
):
    first = gateway_process()
    aibot_server.wait_connected("bot1", timeout=30)
    assert wait_until(lambda: str(first.pid) in holder(aibot), timeout=10)
    sent = [f"m{n}" for n in range(20)]

    with messages_refused():  # the database takes none of them: they wait in the gateway
        for msgid in sent:
            aibot_server.push_message(
                "bot1",
                {"msgid": msgid, "chattype": "single", "from": {"userid": "lisi"},
                 "msgtype": "text", "text": {"content": msgid}},
            )  # fmt: skip
        aibot_server.kick("bot1")  # noticed after the 20 callbacks: they were read
        assert wait_until(lambda: connection_state(aibot) == "taken_over", timeout=10)
        first.send_signal(signal.SIGKILL)
        first.wait(10)

    gateway_process()

    stored = Message.objects.filter(bot=aibot, direction=Message.Direction.IN)
    assert wait_until(lambda: stored.count() == len(sent), timeout=30), stored.count()
    assert list(stored.order_by("pk").values_list("upstream_msgid", flat=True)) == sent


def connection_state(bot) -> str:
    return BotConnection.objects.get(pk=bot.pk).state
