"""LOG_FORMAT=json from the real processes: gunicorn (web) and a Celery worker with beat."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time

import requests

from devtools.processes import ROOT, celery_worker, database_url, stop_process_group
from tests.messaging.conftest import running_gunicorn, status_of_get
from tests.polling import wait_until

TEXT = {"msgtype": "text", "text": {"content": "hi"}}


def _raw_post(base_url: str, path: str, headers: dict | None = None) -> dict:
    """POST with the path exactly as given (requests would decode `%74` to `t`)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        body = json.dumps(TEXT)
        connection.request(
            "POST", path, body, {"Content-Type": "application/json", **(headers or {})}
        )
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def _logged(log_path, *texts: str) -> bool:
    log = log_path.read_text()
    return all(text in log for text in texts)


def _objects(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_the_web_server_writes_json_lines_with_request_ids_and_no_secret(
    transactional_db, bot, group, tmp_path, monkeypatch
):
    monkeypatch.setenv("LOG_FORMAT", "json")
    log_path = tmp_path / "server.log"
    secret = bot.secret
    with running_gunicorn(database_url(), log_path) as base_url:
        sent = _raw_post(
            base_url,
            f"/api/send?secre%74={secret}&conversation_id=wrGroup1",
            {"X-Request-ID": "req-json-1"},
        )
        requests.get(f"{base_url}/api/nowhere?secret={secret}", timeout=10)
        # The access lines are written after the answers.
        assert wait_until(lambda: _logged(log_path, "secre%74=", "/api/nowhere"), 10)

    assert sent["errcode"] == 0, sent  # the encoded name did carry the secret
    log = log_path.read_text()
    assert secret not in log and secret[:12] not in log
    lines = _objects(log)  # every line is one JSON object
    access = [line for line in lines if "secre%74=" in line["message"]]
    assert access and access[0]["request_id"] == "req-json-1"
    assert "secre%74=********&conversation_id=wrGroup1" in access[0]["message"]
    assert {"time", "level", "logger", "message"} <= set(access[0])


def test_the_text_access_log_masks_a_percent_encoded_secret_name(
    transactional_db, bot, group, tmp_path, monkeypatch
):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    log_path = tmp_path / "server.log"
    with running_gunicorn(database_url(), log_path) as base_url:
        sent = _raw_post(base_url, f"/api/send?conversation_id=wrGroup1&secre%74={bot.secret}")
        assert wait_until(lambda: _logged(log_path, "&secre%74="), 10)

    assert sent["errcode"] == 0, sent
    log = log_path.read_text()
    assert "&secre%74=******** " in log
    assert bot.secret not in log


def test_the_worker_and_beat_write_json_lines(transactional_db, tmp_path):
    log_path = tmp_path / "worker.log"
    worker = celery_worker(
        pool="solo",
        beat_schedule=tmp_path / "beat-schedule",
        loglevel="INFO",
        env={
            "DATABASE_URL": database_url(),
            "LOG_FORMAT": "json",
            # Python's warning about running as root is printed before logging starts.
            "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges",
        },
        # Both streams into one file, as systemd gives both to the journal.
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while "beat: Starting" not in log_path.read_text() or "ready" not in log_path.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
        started = log_path.read_text()
    finally:
        stop_process_group(worker)

    # Every line of the start is JSON: the worker's startup banner (its queues and tasks,
    # 40-odd lines of text on standard output, which systemd sends to the journal too) is
    # left out, as a log shipper would fail on each. (Celery still prints one line of text
    # when it stops, "worker: Warm shutdown (MainProcess)", with no way to turn it off.)
    lines = _objects(started)
    loggers = {line["logger"] for line in lines}
    assert "celery.beat" in loggers
    assert any(line["message"].endswith("ready.") for line in lines)


def test_a_standalone_beat_writes_json_lines(transactional_db, tmp_path):
    """`celery beat` as its systemd unit runs it: its banner is left out as the worker's."""
    log_path = tmp_path / "beat.log"
    env = {**os.environ, "DATABASE_URL": database_url(), "LOG_FORMAT": "json"}
    command = [sys.executable, "-m", "celery", "-A", "botadmin", "beat", "--loglevel=INFO"]
    command.append(f"--schedule={tmp_path / 'beat-schedule'}")
    with log_path.open("wb") as log:
        beat = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        assert wait_until(lambda: _logged(log_path, "beat: Starting"), 60), log_path.read_text()
    finally:
        stop_process_group(beat)

    lines = _objects(log_path.read_text())
    assert "celery.beat" in {line["logger"] for line in lines}


def test_the_access_log_names_the_client_a_trusted_proxy_forwards_and_no_spoofed_one(
    transactional_db, tmp_path, monkeypatch
):
    """nginx on 127.0.0.1 appends the address it saw to X-Forwarded-For; a client that
    reaches gunicorn directly (here from 127.0.0.2) writes the header as it likes."""
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    log_path = tmp_path / "server.log"
    env = {"BOTADMIN_TRUSTED_PROXIES": "127.0.0.1"}
    with running_gunicorn(database_url(), log_path, env) as base_url:
        spoofed_then_seen = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
        assert status_of_get(base_url, "/healthz?via=proxy", spoofed_then_seen, "127.0.0.1") == 200
        assert status_of_get(base_url, "/healthz?via=direct", spoofed_then_seen, "127.0.0.2") == 200
        assert wait_until(lambda: _logged(log_path, "via=proxy", "via=direct"), 10)

    lines = log_path.read_text().splitlines()
    (proxied,) = [line for line in lines if "via=proxy" in line]
    (direct,) = [line for line in lines if "via=direct" in line]
    assert proxied.startswith('203.0.113.9 "GET /healthz?via=proxy HTTP/1.1" 200')
    assert direct.startswith('127.0.0.2 "GET /healthz?via=direct HTTP/1.1" 200')


def test_the_access_log_masks_a_secret_under_any_spelling_of_its_name(
    transactional_db, bot, group, tmp_path, monkeypatch
):
    """PHP-style `secret[]` (also percent-encoded) and upper case: the value the caller
    meant as the secret is masked whether or not botadmin accepts the name."""
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    log_path = tmp_path / "server.log"
    names = ["secret[]", "secret%5B%5D", "SECRET", "Secret%5b0%5d", "auth[token]"]
    with running_gunicorn(database_url(), log_path) as base_url:
        for number, name in enumerate(names):
            path = f"/api/send?conversation_id=x{number}&{name}={bot.secret}"
            assert status_of_get(base_url, path, {}, "127.0.0.1") == 405
        assert wait_until(lambda: _logged(log_path, f"conversation_id=x{len(names) - 1}&"), 10)

    log = log_path.read_text()
    for number, name in enumerate(names):
        assert f"/api/send?conversation_id=x{number}&{name}=******** HTTP/1.1" in log
    assert bot.secret not in log and bot.secret[:12] not in log
