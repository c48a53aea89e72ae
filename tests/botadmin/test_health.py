"""/healthz (liveness), /readyz (the installation's readiness, for monitoring) and
/readyz/web (this web process's, for a load balancer)."""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
import requests
from celery import current_app
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from botadmin import health
from connectors import aibot_inbox
from devtools.processes import celery_worker, database_url, stop_process_group
from messaging.models import Message
from tests.botadmin.test_metrics_sources_down import closed_port
from tests.messaging.conftest import running_gunicorn
from tests.polling import wait_until


@pytest.fixture(autouse=True)
def _no_check_left_running():
    """A hung check from one test must not be waited on by the next (nor queue behind it on
    its thread: the next one gets a thread of its own)."""
    yield
    for key, future in list(health._in_flight.items()):
        if not future.done():
            health._threads.pop(key, None)
    health._in_flight.clear()


@pytest.fixture
def alive():
    """Worker, forwarder, fetcher, scheduler and beat have just written their heartbeats."""
    for role in health.HEARTBEAT_ROLES:
        health.record_heartbeat(role)


@contextmanager
def silent_server():
    """A TCP server that accepts connections and never answers (a hung broker)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


@contextmanager
def broker_url(url: str):
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    conf = current_app.conf
    saved = conf.broker_url, conf.broker_transport, conf.broker_transport_options
    saved_env = os.environ.pop("CELERY_BROKER_URL", None)
    conf.broker_url, conf.broker_transport = url, None
    conf.broker_transport_options = {"socket_connect_timeout": 2, "socket_timeout": 3}
    try:
        yield
    finally:
        conf.broker_url, conf.broker_transport, conf.broker_transport_options = saved
        if saved_env is not None:
            os.environ["CELERY_BROKER_URL"] = saved_env


def on_a_checks_thread(call):
    """`call()` as a readiness check runs: on its key's thread, bounded."""
    future = health.run_bounded({"test:connection": call})["test:connection"]
    return future.result(timeout=10)


def database_connection():
    """The DB-API connection a query on this thread used."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.connection


def test_a_checks_thread_keeps_its_database_connection_within_conn_max_age(
    transactional_db, monkeypatch
):
    first = on_a_checks_thread(database_connection)
    assert on_a_checks_thread(database_connection) is first

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)  # close after each use
    on_a_checks_thread(lambda: connection.close())
    once = on_a_checks_thread(database_connection)
    assert on_a_checks_thread(database_connection) is not once


@pytest.mark.skipif(connection.vendor != "postgresql", reason="no database server to drop it")
def test_a_checks_thread_connects_again_after_the_database_dropped_its_connection(
    transactional_db,
):
    def backend_pid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    pid = on_a_checks_thread(backend_pid)
    with connection.cursor() as cursor:  # as a restart of the server does to it
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])

    assert on_a_checks_thread(backend_pid) != pid


def test_liveness_answers_without_touching_the_database():
    # No `db` fixture: any database access would raise here.
    from django.test import Client

    answer = Client().get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_ready_when_every_component_works(client, transactional_db, alive):
    answer = client.get("/readyz")

    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) >= {
        *("database", "cache", "broker", "worker", "forwarder", "fetcher", "scheduler", "beat"),
        "queue",
    }
    for name, result in body["checks"].items():
        # No AI bot gateway runs here (unless an earlier test's reported lately).
        assert result["status"] == "ok" or name == "aibot_inbox", name
        assert result["latency_ms"] >= 0
    assert body["checks"]["aibot_inbox"]["status"] in ("ok", "skipped")


def test_a_silent_worker_makes_readiness_fail_naming_it(client, transactional_db, settings):
    settings.BOTADMIN_HEARTBEAT_MAX_AGE = 60
    cache.set(health.HEARTBEAT_KEY.format(role="worker"), time.time() - 61, timeout=None)
    for role in ("forwarder", "fetcher", "scheduler", "beat"):
        health.record_heartbeat(role)

    answer = client.get("/readyz")

    assert answer.status_code == 503
    assert answer.json()["failing"] == ["worker"]
    assert "61 s ago" in answer.json()["checks"]["worker"]["detail"]


def test_a_stopped_forwarder_fails_readiness_but_the_web_serves_and_says_so(
    client, transactional_db, settings, bot, group
):
    """A load balancer checking /readyz took every web host out for a stopped forwarder,
    while each one still served the API: it checks /readyz/web."""
    settings.BOTADMIN_HEARTBEAT_MAX_AGE = 60
    cache.set(health.HEARTBEAT_KEY.format(role="forwarder"), time.time() - 61, timeout=None)
    for role in set(health.HEARTBEAT_ROLES) - {"forwarder"}:
        health.record_heartbeat(role)

    installation = client.get("/readyz")
    web = client.get("/readyz/web")
    sent = client.post(
        f"/api/send?secret={bot.secret}&conversation_id={group.conversation_id}",
        {"msgtype": "text", "text": {"content": "hi"}},
        content_type="application/json",
    )

    assert installation.status_code == 503
    assert installation.json()["failing"] == ["forwarder"]
    assert web.status_code == 200, web.json()
    assert web.json()["status"] == "ok" and web.json()["failing"] == []
    assert list(web.json()["checks"]) == ["database"]
    assert sent.json()["errcode"] == 0


def test_with_the_cache_down_the_web_still_serves_and_says_so(client, transactional_db, cache_down):
    """The API and the console work without the cache (test_cache_down.py): a load balancer
    keeps sending them requests; /readyz names it for monitoring."""
    web = client.get("/readyz/web")
    installation = client.get("/readyz")

    assert web.status_code == 200, web.json()
    assert installation.status_code == 503
    assert "cache" in installation.json()["failing"]


def test_with_the_database_down_neither_readiness_holds(tmp_path, file_cache):
    database = f"postgres://botadmin:secret@127.0.0.1:{closed_port()}/botadmin"
    # Worker, forwarder and beat beat: only the database is down.
    for role in health.HEARTBEAT_ROLES:
        health.record_heartbeat(role)
    env = {"BOTADMIN_VAR_DIR": str(tmp_path / "var"), "CACHE_URL": file_cache}
    with running_gunicorn(database, tmp_path / "server.log", env=env) as base_url:
        installation = requests.get(f"{base_url}/readyz", timeout=30)
        web = requests.get(f"{base_url}/readyz/web", timeout=30)

    assert installation.status_code == 503
    assert installation.json()["failing"] == ["database", "queue"]
    assert web.status_code == 503
    assert web.json()["failing"] == ["database"]


def test_an_empty_queue_says_nothing_is_waiting(client, transactional_db, alive):
    answer = client.get("/readyz")

    assert answer.json()["checks"]["queue"]["detail"] == "no queued message due"


def queued(conversation, **fields) -> Message:
    return Message.objects.create(
        bot=conversation.bot,
        conversation=conversation,
        direction=Message.Direction.OUT,
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "hi"}},
        status=Message.Status.QUEUED,
        source=Message.Source.API,
        **fields,
    )


def test_a_message_overdue_in_the_queue_makes_readiness_fail(
    client, transactional_db, alive, settings, group
):
    settings.BOTADMIN_READY_MAX_QUEUE_AGE = 300
    stuck = queued(group)
    # Waiting for its retry time is not overdue; due 10 minutes ago is.
    Message.objects.filter(pk=stuck.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    waiting = client.get("/readyz")
    assert waiting.status_code == 200
    assert waiting.json()["checks"]["queue"]["detail"] == "no queued message due"

    Message.objects.filter(pk=stuck.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=10)
    )
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["failing"] == ["queue"]


def test_a_paused_bots_queue_and_messages_behind_a_held_one_do_not_make_readiness_fail(
    client, transactional_db, alive, settings, make_bot, make_conversation
):
    """Queued an hour ago and waiting on purpose: for a paused bot's resume, or behind their
    chat's message held until a daily cap's next day. The load balancer must not take the
    web processes out for them (messaging/queue_health.py)."""
    settings.BOTADMIN_READY_MAX_QUEUE_AGE = 300
    paused = make_bot(name="paused", paused_at=timezone.now())
    capped = make_conversation(make_bot(name="capped"), "wrCapped")
    held_until = timezone.now() + timedelta(hours=9)
    waiting = [
        queued(make_conversation(paused, "wrPaused")),
        queued(capped, next_attempt_at=held_until),  # held by the cap (or its pace)
        queued(capped),  # behind it
    ]
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Message.objects.filter(pk__in=[m.pk for m in waiting]).update(created_at=an_hour_ago)

    answer = client.get("/readyz")

    assert answer.status_code == 200, answer.json()
    assert answer.json()["checks"]["queue"]["detail"] == "no queued message due"


def test_a_hung_broker_is_reported_within_two_seconds(client, transactional_db, alive):
    client.get("/healthz")  # the first request of a process loads every URL module
    with silent_server() as port, broker_url(f"redis://127.0.0.1:{port}/0"):
        began = time.monotonic()
        answer = client.get("/readyz")
        took = time.monotonic() - began
        # Asked again while the first check still hangs: no second thread, same bound.
        began = time.monotonic()
        again = client.get("/readyz")
        took_again = time.monotonic() - began

    assert answer.status_code == 503 and again.status_code == 503
    assert answer.json()["failing"] == ["broker"]
    assert took <= 2 and took_again <= 2
    assert answer.json()["checks"]["database"]["status"] == "ok"


def test_the_answer_holds_no_credentials(client, transactional_db, alive):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: connection refused
    with broker_url(f"redis://:hunter2-broker@127.0.0.1:{port}/0"):
        answer = client.get("/readyz")

    assert answer.status_code == 503
    assert "broker" in answer.json()["failing"]
    assert "hunter2" not in answer.content.decode()


def test_a_check_that_does_not_apply_is_skipped_not_failed(client, transactional_db, alive):
    @health.check("gateway")
    def gateway():
        raise health.Skipped("no AI bots")

    try:
        answer = client.get("/readyz")
    finally:
        del health.CHECKS["gateway"]

    assert answer.status_code == 200
    assert answer.json()["checks"]["gateway"] == {
        "status": "skipped",
        "latency_ms": answer.json()["checks"]["gateway"]["latency_ms"],
        "detail": "no AI bots",
    }


def test_without_an_ai_bot_gateway_the_inbox_check_is_skipped(client, transactional_db, alive):
    cache.delete(aibot_inbox.BACKLOG_KEY)

    answer = client.get("/readyz")

    assert answer.status_code == 200
    result = answer.json()["checks"]["aibot_inbox"]
    assert (result["status"], result["detail"]) == ("skipped", "no AI bot gateway reported lately")


def test_a_worker_beats_for_the_queues_it_reads(settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = "celery"
    # The Procfile's and the units' four workers, and one started without --queues.
    assert health.worker_roles({"celery"}) == ["worker"]
    assert health.worker_roles({"forwarding"}) == ["forwarder"]
    assert health.worker_roles({"media"}) == ["fetcher"]
    assert health.worker_roles({"scheduler"}) == ["scheduler"]
    every_queue = {"celery", "scheduler", "forwarding", "media"}
    assert health.worker_roles(every_queue) == ["worker", "forwarder", "fetcher", "scheduler"]
    # The worker of an installation that kept its units of an earlier release
    # (--exclude-queues=forwarding, then forwarding,media) fetches media and starts what
    # is scheduled too, and says so.
    assert health.worker_roles({"celery", "scheduler", "media"}) == [
        "worker",
        "fetcher",
        "scheduler",
    ]
    assert health.worker_roles({"celery", "scheduler"}) == ["worker", "scheduler"]


def test_a_worker_reading_the_scheduler_queue_beside_others_is_named_and_readiness_holds(
    client, transactional_db, settings, alive
):
    """A sends' worker still started with an earlier release's --exclude-queues also starts
    what is scheduled, late behind a backlog of sends: /readyz names its host and holds."""
    settings.BOTADMIN_HEARTBEAT_MAX_AGE = 60
    this_host = socket.gethostname()
    # Given the scheduler of its own, and the previous release's worker…
    health.record_heartbeat("scheduler")
    health.record_heartbeat("scheduler", beside=["worker"])
    # …and one on another host that was killed two minutes ago (its alert is another's).
    noted = health.shared_schedulers()
    noted["worker-gone"] = (time.time() - 120, "worker,fetcher,scheduler")
    cache.set(health.SHARED_SCHEDULERS_KEY, noted, timeout=None)

    answer = client.get("/readyz")

    assert answer.status_code == 200, answer.json()
    scheduler = answer.json()["checks"]["scheduler"]
    assert scheduler["status"] == "ok"
    assert scheduler["detail"].startswith("last heartbeat ")
    assert scheduler["detail"].endswith(
        f" s ago; also read beside other queues by a worker on {this_host} (as worker,scheduler)"
    )

    # When that worker stops on purpose (its unit replaced), the detail says no more.
    health.forget_heartbeat("scheduler", beside=["worker"])
    scheduler = client.get("/readyz").json()["checks"]["scheduler"]
    assert scheduler["status"] == "ok" and scheduler["detail"].endswith(" s ago")


def _worker_status(client) -> tuple[int, str]:
    health.record_heartbeat("beat")  # only the worker is under test here
    answer = client.get("/readyz")
    return answer.status_code, answer.json()["checks"]["worker"]["status"]


def _wait_for(client, wanted: tuple[int, str], seconds: float) -> float:
    began = time.monotonic()
    while (seen := _worker_status(client)) != wanted:
        assert time.monotonic() - began < seconds, f"still {seen} after {seconds} s"
        time.sleep(0.1)
    return time.monotonic() - began


def test_stopping_the_worker_fails_readiness_and_starting_it_recovers(
    client, transactional_db, settings, tmp_path
):
    # A heartbeat every 0.5 s, stale after 2 s: the stop shows within about 2 s.
    settings.BOTADMIN_HEARTBEAT_MAX_AGE = 2
    cache.delete(health.HEARTBEAT_KEY.format(role="worker"))
    cache.delete(health.HEARTBEAT_HOSTS_KEY.format(role="worker"))
    env = {"DATABASE_URL": database_url(), "BOTADMIN_HEARTBEAT_INTERVAL": "0.5"}
    this_host = ("worker", socket.gethostname())

    def start():
        return celery_worker(pool="solo", env=env, stderr=tmp_path / "worker.log")

    assert _worker_status(client) == (503, "fail")
    worker = start()
    try:
        _wait_for(client, (200, "ok"), 90)
        # The host's entry is written just after the heartbeat /readyz reads.
        assert wait_until(lambda: this_host in health.heartbeats_by_host(), 10)  # for /metrics
        stop_process_group(worker)  # SIGTERM: a stop on purpose
        assert worker.returncode == 0
        assert this_host not in health.heartbeats_by_host()
        _wait_for(client, (503, "fail"), 90)
        worker = start()
        _wait_for(client, (200, "ok"), 90)
    finally:
        stop_process_group(worker)
