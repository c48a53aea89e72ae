"""GET /metrics: Prometheus text, counted over every process, read with prometheus_client's parser."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from botadmin import health
from botadmin.reasons import Reason
from connectors import aibot_inbox
from messaging.delivery import deliver
from messaging.delivery_caps import HELD
from messaging.models import Message
from tests.messaging.conftest import wecom, wecom_bot, wecom_group  # noqa: F401

TOKEN = "metrics-token-for-tests"
TEXT = {"msgtype": "text", "text": {"content": "hello"}}


@pytest.fixture
def scrape(client, settings, transactional_db):
    """Reads /metrics; its sources are read on other threads, which see committed rows only."""
    settings.BOTADMIN_METRICS_TOKEN = TOKEN

    def read() -> dict[tuple[str, tuple], float]:
        settings.BOTADMIN_METRICS_TOKEN = TOKEN
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        assert answer["Content-Type"].startswith("text/plain")
        return _samples(answer.content.decode())

    return read


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(name, sorted labels): value} of a scrape's text."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _server_samples(base_url: str) -> dict[tuple[str, tuple], float]:
    import requests

    auth = {"Authorization": f"Bearer {TOKEN}"}
    return _samples(requests.get(f"{base_url}/metrics", headers=auth, timeout=10).text)


def _value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_without_a_token_and_refused_without_its_bearer(client, db, settings):
    settings.BOTADMIN_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404

    settings.BOTADMIN_METRICS_TOKEN = TOKEN
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="botadmin"'
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"] == 'Bearer realm="botadmin", error="invalid_token"'
    assert TOKEN not in wrong.content.decode()
    # Prometheus sends the scheme as configured: the scheme is read in any case.
    assert client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_one_send_and_its_delivery_count_accepted_and_sent_for_that_bot(
    client,
    scrape,
    wecom,  # noqa: F811
    wecom_bot,  # noqa: F811
    wecom_group,  # noqa: F811
):
    labels = {"bot": wecom_bot.name, "connector": wecom_bot.connector}
    before = scrape()

    answer = client.post(
        f"/api/send?secret={wecom_bot.secret}&conversation_id={wecom_group.conversation_id}",
        data=json.dumps(TEXT),
        content_type="application/json",
    )
    assert answer.json()["errcode"] == 0, answer.json()
    message = Message.objects.get(msgid=answer.json()["msgid"])
    accepted_only = scrape()
    assert deliver(message.pk).result == "sent"
    after = scrape()

    def delta(samples, name, **extra):
        return _value(samples, name, **labels, **extra) - _value(before, name, **labels, **extra)

    assert delta(accepted_only, "botadmin_messages_accepted_total") == 1
    assert delta(accepted_only, "botadmin_messages_sent_total") == 0
    assert delta(accepted_only, "botadmin_queue_depth") == 1
    assert delta(after, "botadmin_messages_accepted_total") == 1
    assert delta(after, "botadmin_messages_sent_total") == 1
    assert delta(after, "botadmin_messages_failed_total") == 0
    assert _value(after, "botadmin_queue_depth", **labels) == 0
    latency = {"connector": wecom_bot.connector}
    assert (
        _value(after, "botadmin_delivery_latency_seconds_count", **latency)
        - _value(before, "botadmin_delivery_latency_seconds_count", **latency)
        == 1
    )
    send_ok = {"endpoint": "api/send", "errcode": "0"}
    assert (
        _value(after, "botadmin_api_requests_total", **send_ok)
        - _value(before, "botadmin_api_requests_total", **send_ok)
        == 1
    )
    # No conversation id appears as a label anywhere.
    assert not any(wecom_group.conversation_id in str(key) for key in after)


def test_counts_of_other_processes_add_up(scrape, db):
    """A worker process's count and this process's count are one sum."""
    labels = {"bot": "multi-process", "connector": "test"}
    before = _value(scrape(), "botadmin_messages_sent_total", **labels)
    code = (
        "import django; django.setup(); from botadmin import metrics; "
        "metrics.MESSAGES_SENT.labels('multi-process', 'test').inc(2)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "botadmin.settings"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    from botadmin import metrics

    metrics.MESSAGES_SENT.labels("multi-process", "test").inc()

    assert _value(scrape(), "botadmin_messages_sent_total", **labels) - before == 3


def queued(conversation, hours_ago: float = 0, **fields) -> Message:
    """An outbound message queued `hours_ago` (its creation time)."""
    message = Message.objects.create(
        bot=conversation.bot,
        conversation=conversation,
        direction=Message.Direction.OUT,
        msgtype="text",
        body=TEXT,
        status=Message.Status.QUEUED,
        source=Message.Source.API,
        **fields,
    )
    if hours_ago:
        made = timezone.now() - timedelta(hours=hours_ago)
        Message.objects.filter(pk=message.pk).update(created_at=made)
    return message


def test_queue_depth_and_oldest_age_per_bot_come_from_the_database(
    scrape, make_bot, make_conversation
):
    busy, idle = make_bot(name="busy-bot"), make_bot(name="idle-bot")
    group = make_conversation(busy, "wrBusy")
    for _ in range(3):
        queued(group)

    samples = scrape()

    assert _value(samples, "botadmin_queue_depth", bot="busy-bot", connector=busy.connector) == 3
    assert _value(samples, "botadmin_queue_depth", bot="idle-bot", connector=idle.connector) == 0
    assert ("botadmin_queue_depth", (("bot", "idle-bot"), ("connector", idle.connector))) in samples
    age = _value(
        samples, "botadmin_queue_oldest_age_seconds", bot="busy-bot", connector=busy.connector
    )
    assert 0 <= age < 60


def test_messages_held_on_purpose_leave_the_oldest_age_at_zero_and_are_counted_apart(
    scrape, make_bot, make_conversation
):
    """A bot at its daily cap (one more message queued behind the held one), one keeping its
    pace, one whose scheduled message was just released and a paused one, each with
    messages made hours ago: none has waited since it was due; a due message no worker
    took for 10 minutes has, and its bot's age says so."""
    now = timezone.now()
    bots = {name: make_bot(name=name) for name in ("capped", "paced", "scheduled", "stuck")}
    bots["paused"] = make_bot(name="paused", paused_at=now)
    chats = {name: make_conversation(bot, f"wr-{name}") for name, bot in bots.items()}
    hold = Reason(HELD, cap="WeCom's daily cap", until="00:00", zone="China time")
    midnight = now + timedelta(hours=9)
    queued(chats["capped"], 3, next_attempt_at=midnight, last_error=hold)
    queued(chats["capped"], 3)  # behind it in its chat
    queued(chats["paced"], 2, next_attempt_at=now + timedelta(seconds=40))
    queued(chats["scheduled"], 24, scheduled_at=now - timedelta(seconds=20))
    queued(chats["paused"], 2)
    queued(chats["paused"], 2, next_attempt_at=midnight, last_error=hold)
    queued(chats["stuck"], 10 / 60)

    samples = scrape()

    def gauge(name: str, bot: str, **labels) -> float:
        return _value(samples, name, bot=bot, connector=bots[bot].connector, **labels)

    ages = {name: gauge("botadmin_queue_oldest_age_seconds", name) for name in bots}
    assert ages["capped"] == ages["paced"] == ages["paused"] == 0
    assert 20 <= ages["scheduled"] < 60
    assert 600 <= ages["stuck"] < 660
    held = {
        (name, reason): gauge("botadmin_queue_held", name, reason=reason)
        for name in bots
        for reason in ("daily_cap", "pace", "retry", "paused")
    }
    assert {key: n for key, n in held.items() if n} == {
        ("capped", "daily_cap"): 1,
        ("paced", "pace"): 1,
        ("paused", "paused"): 2,
    }
    assert (
        "botadmin_queue_held",
        (("bot", "stuck"), ("connector", "bridge"), ("reason", "pace")),
    ) in samples
    assert gauge("botadmin_queue_depth", "capped") == 2


def test_callbacks_journaled_and_not_stored_yet_are_shown_per_gateway_host(
    scrape, db, tmp_path, settings
):
    cache.delete(aibot_inbox.BACKLOG_KEY)
    line = '{"received": 1790000000, "window": 300, "frame": {}}\n'
    (tmp_path / "7-4242-abcd.inbox").write_text(line * 3)  # left by a killed gateway
    live = tmp_path / "7-4343-beef.inbox"  # a live session's: its gateway counts it
    live.write_text(line * 5)
    held = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        orphaned = aibot_inbox.OrphanedJournals(tmp_path).count()
        aibot_inbox.report_backlog("host-a:1:aa", unstored=2, orphaned=orphaned)
    finally:
        os.close(held)
    stale = time.time() - settings.BOTADMIN_HEARTBEAT_MAX_AGE - 1
    aibot_inbox.report_backlog("host-a:0:00", unstored=40, orphaned=0, now=stale)  # stopped

    samples = scrape()

    host = socket.gethostname()
    assert _value(samples, "botadmin_aibot_inbox_unstored", host=host) == 3 + 2
    assert ("botadmin_aibot_inbox_unstored", (("host", host),)) in samples


def test_each_hosts_last_heartbeat_is_exported_by_role_for_a_day(scrape, settings):
    host = socket.gethostname()
    for role in health.HEARTBEAT_ROLES:
        cache.delete(health.HEARTBEAT_HOSTS_KEY.format(role=role))
    now = time.time()
    # Written by the workers of two other hosts: one beat lately, one was killed two days ago.
    cache.set(
        health.HEARTBEAT_HOSTS_KEY.format(role="worker"),
        {"worker-b": now - 30, "worker-gone": now - 2 * 24 * 3600},
        timeout=None,
    )
    health.record_heartbeat("worker")
    health.record_heartbeat("beat")

    samples = scrape()

    beats = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "botadmin_last_heartbeat_timestamp_seconds"
    }
    assert set(beats) == {
        (("host", host), ("role", "worker")),
        (("host", "worker-b"), ("role", "worker")),
        (("host", host), ("role", "beat")),
    }
    assert now <= beats[(("host", host), ("role", "worker"))] <= time.time()
    assert beats[(("host", "worker-b"), ("role", "worker"))] == pytest.approx(now - 30)


def test_a_host_that_stops_on_purpose_leaves_the_heartbeats_and_the_others_stay(scrape):
    host = socket.gethostname()
    cache.set(
        health.HEARTBEAT_HOSTS_KEY.format(role="worker"), {"worker-b": time.time()}, timeout=None
    )
    health.record_heartbeat("worker")

    health.forget_heartbeat("worker")

    assert [key for key in health.heartbeats_by_host() if key[0] == "worker"] == [
        ("worker", "worker-b")
    ]
    assert (
        "botadmin_last_heartbeat_timestamp_seconds",
        (("host", host), ("role", "worker")),
    ) not in scrape()


def test_a_worker_reading_the_scheduler_queue_beside_others_is_exported_until_it_stops(scrape):
    host = socket.gethostname()
    # Given the scheduler of its own, and the previous release's sends' worker beside it.
    health.record_heartbeat("scheduler")
    health.record_heartbeat("worker")
    health.record_heartbeat("scheduler", beside=["worker"])

    shared = {
        labels: value
        for (name, labels), value in scrape().items()
        if name == "botadmin_shared_scheduler_heartbeat_timestamp_seconds"
    }

    assert list(shared) == [(("host", host), ("roles", "worker,scheduler"))]
    assert shared[(("host", host), ("roles", "worker,scheduler"))] <= time.time()
    # When it stops on purpose (its unit replaced), the series goes; the scheduler stays.
    health.forget_heartbeat("scheduler", beside=["worker"])
    health.record_heartbeat("scheduler")
    samples = scrape()
    assert not any(
        name == "botadmin_shared_scheduler_heartbeat_timestamp_seconds" for name, _ in samples
    )
    assert (
        "botadmin_last_heartbeat_timestamp_seconds",
        (("host", host), ("role", "scheduler")),
    ) in samples


def test_nothing_is_counted_while_metrics_are_off(
    client,
    scrape,
    settings,
    wecom_bot,  # noqa: F811
    wecom_group,  # noqa: F811
):
    labels = {"bot": wecom_bot.name, "connector": wecom_bot.connector}
    before = _value(scrape(), "botadmin_messages_accepted_total", **labels)
    settings.BOTADMIN_METRICS_TOKEN = ""

    answer = client.post(
        f"/api/send?secret={wecom_bot.secret}&conversation_id={wecom_group.conversation_id}",
        data=json.dumps(TEXT),
        content_type="application/json",
    )

    assert answer.json()["errcode"] == 0
    assert _value(scrape(), "botadmin_messages_accepted_total", **labels) == before


def test_every_gunicorn_worker_scrapes_the_counts_of_all(
    transactional_db, bot, group, tmp_path, monkeypatch
):
    """gunicorn's workers count in shared files: each scrape, whichever worker answers,
    shows the one accepted message."""
    import requests

    # Started as a service is, not from a process whose settings already chose the folder.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    from devtools.processes import database_url
    from tests.messaging.conftest import running_gunicorn

    env = {"BOTADMIN_METRICS_TOKEN": TOKEN, "BOTADMIN_VAR_DIR": str(tmp_path / "var")}
    with running_gunicorn(database_url(), tmp_path / "server.log", env=env) as base_url:
        sent = requests.post(
            f"{base_url}/api/send?secret={bot.secret}&conversation_id={group.conversation_id}",
            json=TEXT,
            timeout=10,
        )
        assert sent.json()["errcode"] == 0, sent.text
        counts = []
        for _ in range(8):
            counts.append(
                _value(
                    _server_samples(base_url),
                    "botadmin_messages_accepted_total",
                    bot=bot.name,
                    connector=bot.connector,
                )
            )

    assert counts == [1] * 8
