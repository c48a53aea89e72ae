"""GET /metrics while a source it reads is down or hung: the scrape still answers with
everything else, and says which source is missing. Real servers: gunicorn with its
DATABASE_URL on a closed port or on a server that never answers, a dead Redis cache."""

from __future__ import annotations

import socket
import time
from contextlib import contextmanager

import requests
from prometheus_client.parser import text_string_to_metric_families

from connectors import aibot_inbox
from tests.messaging.conftest import running_gunicorn

TOKEN = "metrics-token-for-tests"
DB_PASSWORD = "hunter2-database"
TEXT = {"msgtype": "text", "text": {"content": "hello"}}


def samples_of(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def source_up(samples, source: str) -> float | None:
    return samples.get(("botadmin_scrape_source_up", (("source", source),)))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: connection refused


@contextmanager
def silent_database():
    """A port that accepts connections and never answers (a hung database server); yields
    a function dropping the connections it holds, which ends the clients' wait."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    held: list[socket.socket] = []

    def drop() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                break
        for connection in held:
            connection.close()

    try:
        yield listener.getsockname()[1], drop
    finally:
        drop()
        listener.close()


def scrape(base_url: str) -> requests.Response:
    return requests.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )


def test_with_the_database_down_the_scrape_answers_with_the_counters_and_the_inbox_backlog(
    tmp_path, file_cache
):
    database = f"postgres://botadmin:{DB_PASSWORD}@127.0.0.1:{closed_port()}/botadmin"
    # A gateway on this host has read 4 callbacks it cannot store: the database is down.
    aibot_inbox.report_backlog("gateway-1", unstored=4, orphaned=0)
    env = {
        "BOTADMIN_METRICS_TOKEN": TOKEN,
        "BOTADMIN_VAR_DIR": str(tmp_path / "var"),
        "CACHE_URL": file_cache,
    }
    log_path = tmp_path / "server.log"
    with running_gunicorn(database, log_path, env=env) as base_url:
        refused = requests.post(
            f"{base_url}/api/send?secret={'s' * 43}&conversation_id=wr1", json=TEXT, timeout=30
        )
        answers = [scrape(base_url) for _ in range(2)]

    assert refused.status_code == 503
    assert [answer.status_code for answer in answers] == [200, 200], answers[0].text
    samples = samples_of(answers[-1].text)
    assert samples[("botadmin_aibot_inbox_unstored", (("host", socket.gethostname()),))] == 4
    send_refused = (("endpoint", "api/send"), ("errcode", "-1"))
    assert samples[("botadmin_api_requests_total", send_refused)] == 1
    assert source_up(samples, "database") == 0
    assert source_up(samples, "cache") == 1
    assert source_up(samples, "files") == 1
    assert not any(name == "botadmin_queue_depth" for name, _ in samples)
    # Said once per scrape, without the database's password.
    log = log_path.read_text()
    failures = [line for line in log.splitlines() if "metrics: left out" in line]
    assert len(failures) == 2, log[-3000:]
    assert "database" in failures[0]
    assert DB_PASSWORD not in log
    assert all(DB_PASSWORD not in answer.text for answer in answers)


def test_a_hung_database_holds_the_scrape_for_the_readiness_timeout_only(tmp_path, file_cache):
    with silent_database() as (port, drop):
        database = f"postgres://botadmin:{DB_PASSWORD}@127.0.0.1:{port}/botadmin"
        env = {
            "BOTADMIN_METRICS_TOKEN": TOKEN,
            "BOTADMIN_VAR_DIR": str(tmp_path / "var"),
            "BOTADMIN_READY_TIMEOUT": "1",
            "CACHE_URL": file_cache,
            "WEB_CONCURRENCY": "1",  # both scrapes meet the same hung connection attempt
        }
        with running_gunicorn(database, tmp_path / "server.log", env=env) as base_url:
            took = []
            answers = []
            for _ in range(2):
                began = time.monotonic()
                answers.append(scrape(base_url))
                took.append(time.monotonic() - began)
            drop()  # the worker can stop: its query fails

    assert [answer.status_code for answer in answers] == [200, 200]
    for answer in answers:
        samples = samples_of(answer.text)
        assert source_up(samples, "database") == 0
        assert source_up(samples, "files") == 1
    # 1 s, and a margin for a loaded machine; without a bound the scrape waits for ever.
    assert all(seconds < 4 for seconds in took), took


def test_with_the_cache_down_the_scrape_says_so_instead_of_showing_no_backlog(
    client, settings, transactional_db, make_bot, cache_down, caplog
):
    settings.BOTADMIN_METRICS_TOKEN = TOKEN
    busy = make_bot(name="busy-bot")

    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert answer.status_code == 200
    samples = samples_of(answer.content.decode())
    assert source_up(samples, "cache") == 0
    assert source_up(samples, "database") == 1
    assert ("botadmin_queue_depth", (("bot", busy.name), ("connector", busy.connector))) in samples
    assert not any(name == "botadmin_aibot_inbox_unstored" for name, _ in samples)
    assert not any(name == "botadmin_last_heartbeat_timestamp_seconds" for name, _ in samples)
    failures = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(failures) == 1 and "cache (ConnectionError" in failures[0], failures
