"""A pool named on a Celery worker's command line is the pool it runs, whatever
CELERY_WORKER_POOL says: an operator who types `--pool=prefork` gets prefork. Celery takes
`--pool=prefork` for its own default and ran the setting's pool instead (threads, the
filesystem broker's default), so settings.py reads the command line
(`botadmin.process_roles.worker_pool`)."""

from __future__ import annotations

import re

import pytest

from devtools.processes import celery_worker, stop_process_group
from tests.polling import wait_until


def _banner_pool(banner) -> str | None:
    """The pool in the worker's banner (`concurrency: 2 (prefork)`), None until it is printed."""
    found = re.search(r"concurrency: \S+ \((\w+)\)", banner.read_text())
    return found and found.group(1)


@pytest.mark.parametrize("options", [["--pool=prefork"], ["-P", "prefork"]], ids=" ".join)
def test_prefork_named_on_the_command_line_runs_where_the_setting_says_threads(options, tmp_path):
    """Given CELERY_WORKER_POOL=threads, when a worker is started as the Procfile starts it
    with `--pool=prefork` (or `-P prefork`) on its command line, then its banner names the
    prefork pool."""
    banner = tmp_path / "banner.txt"
    with open(banner, "wb") as output:
        worker = celery_worker(
            pool=None,
            options=options,
            concurrency=1,
            env={"CELERY_WORKER_POOL": "threads", "BOTADMIN_VAR_DIR": str(tmp_path / "var")},
            stdout=output,
            stderr=tmp_path / "worker.log",
        )
    try:
        assert wait_until(lambda: _banner_pool(banner) is not None, timeout=90), (
            tmp_path / "worker.log"
        ).read_text()
    finally:
        stop_process_group(worker, timeout=0)

    assert _banner_pool(banner) == "prefork"
