"""The "other" metrics folder (manage.py commands) is emptied of the files of processes
that are gone when one of its long-running commands starts, as the web and Celery folders
are when their services start: on a host that runs the AI bot gateway and no gunicorn,
each run's files no longer pile up there for good. On a host that runs only cron'd
commands, each command folds the files of the ended ones into one per type as it starts,
their counts kept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from devtools.processes import ROOT, stop_process_group
from tests.fuzzing import examples
from tests.polling import wait_until

from .test_metrics import TOKEN, _samples, _value
from .test_metrics_known_series import _aibot_gateway, fresh_environment  # noqa: F401

# A hundred runs in CI, ten in `make test` (each starts Django: about a second).
RUNS = examples(100)
AT_ONCE = 4  # as cron starts several commands in the same minute
# What each run counts: a contact sync finished and a delivery's latency (a histogram).
COUNTING = (
    "from botadmin import metrics; metrics.contact_sync_finished('succeeded'); "
    "metrics.DELIVERY_LATENCY.labels('wecom').observe(0.5)"
)


def test_the_gateway_starting_removes_the_files_of_gone_processes_and_keeps_the_live_ones(
    fresh_environment,  # noqa: F811
    tmp_path,
):
    """Given the files a gateway left when it stopped, and those of a command still running,
    when the gateway starts again, then the stopped gateway's files are gone and the running
    command's files stay, beside the new gateway's own."""
    other = tmp_path / "var" / "metrics" / "other"
    first = _aibot_gateway(fresh_environment)
    try:
        assert wait_until(lambda: (other / f"counter_{first.pid}.db").exists(), timeout=60)
    finally:
        stop_process_group(first, timeout=0)
    gone = sorted(other.glob(f"*_{first.pid}.db"))
    assert gone  # its counters (and the latency histogram) outlive it

    running = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        shutil.copy(other / f"counter_{first.pid}.db", other / f"counter_{running.pid}.db")
        second = _aibot_gateway(fresh_environment)
        try:
            assert wait_until(lambda: (other / f"counter_{second.pid}.db").exists(), timeout=60)
            files = {path.name for path in other.glob("*.db")}
        finally:
            stop_process_group(second, timeout=0)
    finally:
        stop_process_group(running, timeout=0)

    assert not files & {path.name for path in gone}
    assert f"counter_{running.pid}.db" in files


def _manage_py(env: dict[str, str], code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_a_hundred_cron_runs_leave_one_file_per_type_and_every_count(
    fresh_environment,  # noqa: F811
    client,
    settings,
    tmp_path,
):
    """Given a host that runs only manage.py commands (no gunicorn, gateway or runserver),
    when a hundred short commands (ten in `make test`) that each count have run, a few at a time, then the
    "other" folder holds one folded file per type and those of the last few runs, and a
    scrape adds up all hundred runs' counts; after one more command (counting nothing) it
    holds the folded files alone, with the same sums."""
    other = tmp_path / "var" / "metrics" / "other"
    settings.BOTADMIN_METRICS_DIR = tmp_path / "var" / "metrics"
    settings.BOTADMIN_METRICS_TOKEN = TOKEN

    def scrape() -> tuple[float, float, float]:
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        samples = _samples(answer.content.decode())
        return (
            _value(samples, "botadmin_contact_sync_runs_total", outcome="succeeded"),
            _value(samples, "botadmin_delivery_latency_seconds_count", connector="wecom"),
            _value(
                samples, "botadmin_delivery_latency_seconds_bucket", connector="wecom", le="1.0"
            ),
        )

    for first in range(0, RUNS, AT_ONCE):
        runs = [
            _manage_py(fresh_environment, COUNTING)
            for _ in range(first, min(first + AT_ONCE, RUNS))
        ]
        for run in runs:
            assert run.wait(timeout=120) == 0, run.stderr.read().decode()
            run.stderr.close()
    left = sorted(path.name for path in other.glob("*.db"))

    assert len(left) <= 2 + 2 * AT_ONCE, left  # folded, and the last few runs' own
    assert scrape() == (RUNS, RUNS, RUNS)

    last = _manage_py(fresh_environment, "pass")
    assert last.wait(timeout=120) == 0, last.stderr.read().decode()
    last.stderr.close()

    assert sorted(path.name for path in other.glob("*.db")) == [
        "counter_folded.db",
        "histogram_folded.db",
    ]
    assert scrape() == (RUNS, RUNS, RUNS)
