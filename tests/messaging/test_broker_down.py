"""A broker that is down or hangs never delays or fails an API answer (botadmin/wakeups.py).

gunicorn, started as `make run` starts it, is given a broker that refuses
connections or one that accepts them and never answers. /api/send and
/api/callback still answer at once with the message stored; a worker on the
real broker later sends and forwards everything, found by the sweepers.
"""

import contextlib
import socket
import subprocess
import threading
import time

import pytest
import requests
from django.conf import settings

from devtools.processes import celery_worker, database_url, stop_process_group
from messaging.models import Message
from tests.messaging.support import purge_broker
from tests.polling import wait_until

from .conftest import running_gunicorn
from .support import callback_body

TEXT = {"msgtype": "text", "text": {"content": "the broker is away"}}


@contextlib.contextmanager
def refusing_broker():
    """A port nobody listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port


@contextlib.contextmanager
def silent_broker():
    """A TCP server that accepts connections and never answers: a hung broker."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept_forever():
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept_forever, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for connection in accepted:
            connection.close()


def timed_post(url: str, **kwargs) -> tuple[requests.Response, float]:
    began = time.monotonic()
    answer = requests.post(url, timeout=30, **kwargs)
    return answer, time.monotonic() - began


@pytest.mark.parametrize("broker", [refusing_broker, silent_broker], ids=["refusing", "silent"])
def test_a_broker_down_or_hung_never_delays_an_api_answer_and_the_sweepers_send_later(
    broker, transactional_db, tmp_path, agent, make_bot, make_conversation, receiver
):
    bot = make_bot(agent_url=agent.url, agent_token=agent.token, webhook_url=receiver.url("/hook"))
    make_conversation(bot, "wrGroup1")
    purge_broker()  # wake-ups other tests left on the real broker

    with (
        broker() as port,
        running_gunicorn(
            database_url(),
            tmp_path / "server.log",
            env={"CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0", "LOG_LEVEL": "WARNING"},
        ) as base_url,
    ):
        # Several of each: later ones arrive while the publisher is still stuck.
        answers = [
            timed_post(
                f"{base_url}/api/send?secret={bot.secret}&conversation_id=wrGroup1", json=TEXT
            )
            for _ in range(3)
        ] + [
            timed_post(f"{base_url}/api/callback", json=callback_body("text", bot, msgid=f"in-{i}"))
            for i in range(3)
        ]

    assert [answer.json()["errcode"] for answer, _ in answers] == [0] * 6
    assert max(seconds for _, seconds in answers) < 1, answers
    outbound = Message.objects.filter(direction=Message.Direction.OUT)
    assert outbound.count() == 3 and not outbound.exclude(status="queued").exists()
    assert Message.objects.filter(direction=Message.Direction.IN).count() == 3

    # The real broker is back: the sweepers find what no wake-up announced.
    worker = celery_worker(
        pool="threads",
        concurrency=2,
        beat_schedule=tmp_path / "beat-schedule",
        env={
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
            "DELIVERY_SWEEP_INTERVAL": "1",
            "CONN_MAX_AGE": "0",
        },
        stdout=subprocess.DEVNULL,
        stderr=tmp_path / "worker.log",
    )
    try:
        assert wait_until(lambda: not outbound.exclude(status="sent").exists(), 90)
        assert len(agent.sent) == 3
        # The forwarding sweeper leaves fresh messages alone for 15 s, and runs every 15 s.
        assert len(receiver.wait_for(3, timeout=90)) == 3
    finally:
        stop_process_group(worker, timeout=0)
