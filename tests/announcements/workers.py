"""A real Celery worker (with embedded beat) on the test database, for end-to-end tests and benches."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from celery import current_app
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
DELIVER_TASK = "messaging.deliver_messages"


def delivery_engine_available() -> bool:
    """True once the delivery engine (issue 4) registers the task that sends queued messages."""
    current_app.loader.import_default_modules()
    return DELIVER_TASK in current_app.tasks


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_worker(*, beat: bool = True, concurrency: int = 2, **env) -> subprocess.Popen:
    # Its own var/ and filesystem broker: nothing left in the shared queue by other
    # tests is in its way, and what it enqueues it consumes itself.
    workdir = tempfile.mkdtemp(prefix="announce-worker-")
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "botadmin",
        "worker",
        "--loglevel",
        "WARNING",
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",
    ]
    if beat:
        command += ["--beat", "--schedule", str(Path(workdir) / "beat-schedule")]
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
        "BOTADMIN_VAR_DIR": workdir,
        "CELERY_BROKER_URL": "filesystem://",
        **{key: str(value) for key, value in env.items()},
    }
    return subprocess.Popen(command, cwd=ROOT, env=environment, start_new_session=True)


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
