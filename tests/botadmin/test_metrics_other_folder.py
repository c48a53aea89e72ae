"""The "other" metrics folder (manage.py commands) is emptied of the files of processes
that are gone when one of its long-running commands starts, as the web and Celery folders
are when their services start: on a host that runs the AI bot gateway and no gunicorn,
each run's files no longer pile up there for good."""

from __future__ import annotations

import shutil
import subprocess

from devtools.processes import stop_process_group
from tests.polling import wait_until

from .test_metrics_known_series import _aibot_gateway, fresh_environment  # noqa: F401


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
