"""Fixtures for sending (a robot bot, a bridge bot, a client for /api/send) and for
inbound messages and forwarding (a real local receiver, a bot whose webhook points at
it, posting callbacks)."""

import json
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.core.cache import cache
from django.db import connection

from conversations.models import Bot
from messaging import ratelimit
from tests.fakes.receiver import Receiver


@pytest.fixture
def robot_bot(make_bot) -> Bot:
    return make_bot(name="alerts", connector=Bot.Connector.WECOM_ROBOT, agent_url="")


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
    ratelimit.reset()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    """The URL of the test database, for a server process outside pytest."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@contextmanager
def running_gunicorn(database_url: str, log_path: Path):
    """botadmin under gunicorn, configured as `make run` starts it; yields its base URL.

    The log file gets the server's stdout and stderr (access log and Django's
    log lines). Ready once it answers /healthz at all (503 with no database).
    """
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WEB_PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "DEBUG",
        "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
    }
    root = Path(__file__).resolve().parents[2]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(root / ".venv/bin/gunicorn"), "-c", "botadmin/gunicorn_conf.py", "botadmin.wsgi"],
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


@pytest.fixture
def gunicorn_server(transactional_db, tmp_path):
    """(base_url, log_path) of gunicorn on the test database."""
    log_path = tmp_path / "server.log"
    with running_gunicorn(_database_url(), log_path) as base_url:
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
