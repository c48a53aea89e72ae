"""A process replaced while its service runs (a Celery pool process after
`--max-tasks-per-child` or a crash, a gunicorn worker after its timeout) takes its live
gauges with it, as prometheus-client's multiprocess mode asks (`mark_process_dead`), and
leaves its counts, which the scrape goes on adding up."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import requests
from django.core.cache import cache
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from botadmin import health
from devtools.processes import celery_worker, database_url, stop_process_group
from messaging.models import Message
from tests.messaging.conftest import running_gunicorn, wecom, wecom_bot, wecom_group  # noqa: F401
from tests.messaging.support import purge_broker
from tests.polling import wait_until

from .test_metrics import TEXT, TOKEN, _samples, _server_samples

LIVE_GAUGE = "botadmin_test_live_gauge"


def children(pid: int) -> set[int]:
    try:
        return {
            int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        }
    except FileNotFoundError:
        return set()


def write_live_gauge(path: Path) -> None:
    """LIVE_GAUGE at 1 in a file of a process's live gauges (`gauge_livesum_PID.db`), as
    prometheus-client writes one (botadmin has none of its own yet)."""
    store = MmapedDict(str(path))
    try:
        store.write_value(mmap_key(LIVE_GAUGE, LIVE_GAUGE, [], [], "a test's gauge"), 1.0, 0.0)
    finally:
        store.close()


@pytest.fixture
def metrics_folder(tmp_path, settings, monkeypatch) -> Path:
    """A metrics folder for a worker and for this test's scrapes alone."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)  # as a service starts
    settings.BOTADMIN_METRICS_DIR = tmp_path / "metrics"
    settings.BOTADMIN_METRICS_TOKEN = TOKEN
    return tmp_path / "metrics"


def test_a_replaced_celery_pool_process_takes_its_live_gauges_and_leaves_its_counts(
    transactional_db,
    metrics_folder,
    client,
    tmp_path,
    wecom,  # noqa: F811
    wecom_bot,  # noqa: F811
    wecom_group,  # noqa: F811
):
    """Given a prefork worker whose one pool process is replaced after each task, and a
    live gauge in that process's files, when the process has delivered a message and been
    replaced, then its live gauge is gone from the folder and from /metrics, and the send
    it counted is still added up."""
    purge_broker()  # wake-ups left by earlier tests
    heartbeat = health.HEARTBEAT_KEY.format(role="worker")
    cache.delete(heartbeat)
    worker = celery_worker(
        pool="prefork",
        concurrency=1,
        options=["--max-tasks-per-child=1"],
        env={
            "DATABASE_URL": database_url(),
            "BOTADMIN_METRICS_DIR": str(metrics_folder),
            "BOTADMIN_METRICS_TOKEN": TOKEN,
            "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
            "WECOM_API_BASE": wecom.base_url,
        },
        stderr=tmp_path / "worker.log",
    )
    sent = (
        "botadmin_messages_sent_total",
        (("bot", wecom_bot.name), ("connector", wecom_bot.connector)),
    )

    def scrape() -> dict:
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        return _samples(answer.content.decode())

    try:
        # Its first heartbeat: it consumes, its pool started.
        assert wait_until(lambda: cache.get(heartbeat) is not None, timeout=90), (
            tmp_path / "worker.log"
        ).read_text()
        (first,) = children(worker.pid)
        live = metrics_folder / "worker" / f"gauge_livesum_{first}.db"
        write_live_gauge(live)
        assert scrape()[(LIVE_GAUGE, ())] == 1.0

        answer = client.post(  # its wake-up is the pool process's one task
            f"/api/send?secret={wecom_bot.secret}&conversation_id={wecom_group.conversation_id}",
            data=TEXT,
            content_type="application/json",
        )
        assert answer.json()["errcode"] == 0, answer.json()

        assert wait_until(lambda: first not in children(worker.pid), timeout=60)
        message = Message.objects.get(msgid=answer.json()["msgid"])
        assert message.status == Message.Status.SENT
        assert not live.exists()
        assert (metrics_folder / "worker" / f"counter_{first}.db").exists()
        samples = scrape()
        assert (LIVE_GAUGE, ()) not in samples
        assert samples[sent] == 1
    finally:
        stop_process_group(worker, timeout=0)


def test_a_replaced_gunicorn_worker_takes_its_live_gauges_and_leaves_its_counts(
    transactional_db,
    metrics_folder,
    tmp_path,
    wecom_bot,  # noqa: F811
    wecom_group,  # noqa: F811
):
    """Given gunicorn with one worker that accepted a message, and a live gauge in that
    worker's files, when the worker is killed and gunicorn starts another (`child_exit`),
    then its live gauge is gone and the message it counted is still added up."""
    env = {
        "BOTADMIN_METRICS_DIR": str(metrics_folder),
        "BOTADMIN_METRICS_TOKEN": TOKEN,
        "WEB_CONCURRENCY": "1",
    }
    folder = metrics_folder / "web"
    accepted = (
        "botadmin_messages_accepted_total",
        (("bot", wecom_bot.name), ("connector", wecom_bot.connector)),
    )
    with running_gunicorn(database_url(), tmp_path / "server.log", env=env) as base_url:
        # The worker lists the known series at 0 as it starts: its files name its pid.
        assert wait_until(lambda: list(folder.glob("counter_*.db")), timeout=30)
        (worker,) = {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("counter_*.db")}
        live = folder / f"gauge_livesum_{worker}.db"
        write_live_gauge(live)
        answer = requests.post(
            f"{base_url}/api/send?secret={wecom_bot.secret}"
            f"&conversation_id={wecom_group.conversation_id}",
            json=TEXT,
            timeout=10,
        )
        assert answer.json()["errcode"] == 0, answer.text
        before = _server_samples(base_url)
        assert (before[(LIVE_GAUGE, ())], before[accepted]) == (1.0, 1)

        os.kill(worker, signal.SIGKILL)

        assert wait_until(lambda: not live.exists(), timeout=30)
        assert wait_until(lambda: len(list(folder.glob("counter_*.db"))) == 2, timeout=60)
        samples = _server_samples(base_url)  # answered by the new worker
    assert (LIVE_GAUGE, ()) not in samples
    assert samples[accepted] == 1
