"""Messaging fixtures: /api/send clients and robot/bridge bots (send API); a real local
receiver and callback posting (inbound, forwarding); a simulated clock, a fake WeCom
robot API and a driver for the delivery engine (delivery)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from conversations.models import Bot
from devtools.processes import celery_worker, database_url, stop_process_group
from devtools.receiver import Receiver
from messaging import delivery
from messaging.delivery_claim import next_due_time
from messaging.models import Message
from messaging.sending import accept_outbound
from tests.connectors.conftest import agent, bridge_bot  # noqa: F401  (the fake agent)
from tests.fakes.wecom import FakeWeCom


@pytest.fixture
def robot_bot(make_bot) -> Bot:
    return make_bot(name="alerts", connector="wecom_robot", agent_url="")


@pytest.fixture
def robot_group(robot_bot, make_conversation):
    return make_conversation(robot_bot, "robotGroup1", robot_key="k-robot")


@pytest.fixture
def send(client):
    """POST /api/send like a caller would: `send(bot, conversation_id, body, **options)`."""

    def post(
        secret, conversation_id, body, *, content_type="application/json", query=None, **headers
    ):
        params = {"secret": secret, "conversation_id": conversation_id, **(query or {})}
        data = body if isinstance(body, bytes | str) else json.dumps(body, ensure_ascii=False)
        return client.post(
            "/api/send", data=data, content_type=content_type, query_params=params, headers=headers
        )

    return post


@pytest.fixture(autouse=True)
def _fresh_rate_limits(db):
    """Rate-limit counters live in the cache, which outlives a test's transaction."""
    cache.clear()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_gunicorn(
    database_url: str,
    log_path: Path,
    env: dict[str, str] | None = None,
    launcher: list[str] | None = None,
):
    """botadmin under gunicorn, configured as `make run` starts it; yields its base URL.

    The log file gets the server's stdout and stderr (access log and Django's
    log lines). Ready once it answers /healthz at all (503 with no database).
    `env`: more environment variables for the server. `launcher`: how gunicorn is
    started (`[python, "-m", "gunicorn"]`), the virtualenv's script unless given.
    """
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "DEBUG",
        "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
        **(env or {}),
    }
    root = Path(__file__).resolve().parents[2]
    launcher = launcher or [str(root / ".venv/bin/gunicorn")]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*launcher, "-c", "botadmin/gunicorn_conf.py", "botadmin.wsgi"],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                requests.get(base_url + "/healthz", timeout=5)
                break
            except requests.RequestException:  # not listening yet, or slow on a busy machine
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("gunicorn did not start:\n" + log_path.read_text())
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=20)


def status_of_get(base_url: str, path: str, headers: dict, source: str) -> int:
    """The status of a GET to the server of `running_gunicorn` from the local address
    `source` (any 127.x.y.z reaches a server on 127.0.0.1), with exactly these headers."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10, source_address=(source, 0))
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def gunicorn_server(transactional_db, tmp_path):
    """(base_url, log_path) of gunicorn on the test database."""
    log_path = tmp_path / "server.log"
    with running_gunicorn(database_url(), log_path) as base_url:
        yield base_url, log_path


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def hooked_bot(make_bot, receiver):
    """A bot whose webhook URL is the local receiver."""
    return make_bot(name="hooked", webhook_url=receiver.url("/hook"))


@pytest.fixture
def post_callback(client):
    def post(body, *, query: str = "", raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        return client.post("/api/callback" + query, data=data, content_type="application/json")

    return post


class SimClock:
    """A controllable clock for the delivery engine; starts at the real now."""

    def __init__(self):
        self.now = timezone.now()
        self.start = self.now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @property
    def elapsed(self) -> float:
        return (self.now - self.start).total_seconds()


@pytest.fixture(autouse=True)
def _fresh_cache(db):
    """Rate-limit state lives in the cache; each test starts without any."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def wecom(settings):
    with FakeWeCom(keys={"key-sales", "key-ops"}) as fake:
        settings.WECOM_API_BASE = fake.base_url
        yield fake


@pytest.fixture
def wecom_bot(make_bot) -> Bot:
    return make_bot(
        name="alerts",
        connector="wecom_robot",
        agent_url="",
        agent_token="",
        rate_limit_per_minute=1000,
    )


@pytest.fixture
def wecom_group(wecom_bot, make_conversation):
    return make_conversation(wecom_bot, "wrSales", name="销售群", robot_key="key-sales")


@pytest.fixture
def bridge_group(bridge_bot, make_conversation):  # noqa: F811
    return make_conversation(bridge_bot, "wrDemoGroup0001", name="销售部通知群")


@pytest.fixture
def queue_message():
    def queue(conversation, body: dict, **kwargs) -> Message:
        return accept_outbound(
            bot=conversation.bot,
            conversation_id=conversation.conversation_id,
            body=body,
            source=Message.Source.API,
            **kwargs,
        )

    return queue


def drain(clock: SimClock, max_steps: int = 100_000) -> None:
    """Run the engine's drain (what a woken worker does), advancing the simulated clock
    to the next due time whenever nothing is due, until nothing is waiting for a time."""
    for _ in range(max_steps):
        delivery.drain(clock)
        upcoming = next_due_time(clock())
        if upcoming is None:
            return
        clock.now = max(clock.now, upcoming)
    raise AssertionError("the queue did not drain")


@pytest.fixture
def run_queue(clock):
    return lambda: drain(clock)


@pytest.fixture
def start_worker(tmp_path):
    """Starts real `celery worker` processes on the test database and broker."""
    started: list[subprocess.Popen] = []
    env = {
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
        "DELIVERY_SWEEP_INTERVAL": "1",
        "DELIVERY_CONVERSATION_MIN_GAP": "0",
        "LOG_LEVEL": "WARNING",
    }

    def start(
        *,
        beat: bool = False,
        loglevel: str = "WARNING",
        pool: str | None = "solo",
        concurrency: int | None = None,
        lease: float = 4,
    ) -> subprocess.Popen:
        """`pool=None`: the configured pool, as the Procfile runs it. The sweep runs every
        1 s and a send lease is `lease` s; `beat` runs beat inside the worker (a child
        process)."""
        process = celery_worker(
            pool=pool,
            concurrency=concurrency,
            beat_schedule=tmp_path / "beat-schedule" if beat else None,
            loglevel=loglevel,
            env={**env, "DELIVERY_SENDING_TIMEOUT": str(lease)},
            stdout=subprocess.DEVNULL,
            stderr=tmp_path / f"worker-{len(started)}.log",
        )
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process_group(process, timeout=0)  # killed: nothing to wait for
