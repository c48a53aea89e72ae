"""A real Celery worker (with embedded beat) on the test database, for end-to-end tests and benches."""

import subprocess
import tempfile
from pathlib import Path

from celery import current_app

from devtools.processes import celery_worker, database_url

DELIVER_TASK = "messaging.deliver_messages"


def delivery_engine_available() -> bool:
    """True once the delivery engine (issue 4) registers the task that sends queued messages."""
    current_app.loader.import_default_modules()
    return DELIVER_TASK in current_app.tasks


def start_worker(*, beat: bool = True, concurrency: int = 2, **env) -> subprocess.Popen:
    # Its own var/ and filesystem broker: nothing left in the shared queue by other
    # tests is in its way, and what it enqueues it consumes itself.
    workdir = tempfile.mkdtemp(prefix="announce-worker-")
    return celery_worker(
        pool=None,  # the configured one (threads on the filesystem broker), as it always ran
        concurrency=concurrency,
        beat_schedule=Path(workdir) / "beat-schedule" if beat else None,
        env={
            "DATABASE_URL": database_url(),
            "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
            "BOTADMIN_VAR_DIR": workdir,
            "CELERY_BROKER_URL": "filesystem://",
            **{key: str(value) for key, value in env.items()},
        },
    )
