"""Child processes of the tests and the benches: a real Celery worker (or the ones the
Procfile starts), and stopping it.

A worker starts in a session of its own, so that stopping it stops its pool's
processes too, and a test can kill it as a whole mid-task.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]


def celery_worker(
    *,
    pool: str | None,
    options: Sequence[str] = (),
    concurrency: int | None = None,
    beat_schedule: Path | str | None = None,
    loglevel: str = "WARNING",
    env: dict[str, str] | None = None,
    stdout: int | IO | None = None,
    stderr: Path | int | IO | None = None,
) -> subprocess.Popen:
    """`celery -A botadmin worker` in the project folder, in its own session.

    `pool`: None for the configured one (CELERY_WORKER_POOL), as the Procfile runs it.
    `options`: more of the worker's options (a Procfile line's: `procfile_workers()`);
    `pool`, `concurrency` and `loglevel` come after them and win.
    `beat_schedule`: run beat inside the worker, keeping its schedule in this file.
    `env`: variables set on top of this process's environment.
    `stdout` / `stderr` as for Popen (inherited when None); a Path for stderr
    is the worker's log file.
    """
    command = [sys.executable, "-m", "celery", "-A", "botadmin", "worker", *options]
    if pool is not None:
        command.append(f"--pool={pool}")
    if concurrency is not None:
        command.append(f"--concurrency={concurrency}")
    if beat_schedule is not None:
        command += ["--beat", f"--schedule={beat_schedule}"]
    # A lone worker: no waiting for, or listening to, other workers on the broker.
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    command.append(f"--loglevel={loglevel}")
    environment = {**os.environ, **(env or {})}
    log = open(stderr, "wb") if isinstance(stderr, Path) else None  # noqa: SIM115
    try:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=stdout,
            stderr=log or stderr,
            start_new_session=True,
        )
    finally:
        if log is not None:
            log.close()  # the worker has its own descriptor


def procfile_workers(procfile: Path = ROOT / "Procfile") -> dict[str, list[str]]:
    """The Celery workers `make run` starts: {Procfile name: the options after `worker`}
    (those of another `procfile`, to compare a layout)."""
    workers = {}
    for line in procfile.read_text().splitlines():
        name, _, command = line.partition(":")
        words = shlex.split(command)
        if words[:4] == [".venv/bin/celery", "-A", "botadmin", "worker"]:
            workers[name.strip()] = words[4:]
    return workers


def stop_process_group(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM to the process's group, then SIGKILL after `timeout` s (0: at once)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def database_url() -> str:
    """The test database as a DATABASE_URL, for a process started outside pytest."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = quote(db["USER"], safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
