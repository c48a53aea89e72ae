"""Celery beat keeps its schedule file in the var dir (BOTADMIN_VAR_DIR) with everything else
botadmin writes. With `--schedule=var/celerybeat-schedule` on the Procfile's and the unit's
command lines it went to the working directory's var/: with the var dir elsewhere (a
read-only checkout, two instances from one checkout) beat wrote into the checkout or failed."""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest

from devtools.processes import ROOT, database_url, stop_process_group
from tests.polling import wait_until

UNIT = ROOT / "deploy/systemd/botadmin-beat.service"


def procfile_beat() -> list[str]:
    (line,) = [line for line in (ROOT / "Procfile").read_text().splitlines() if line[:5] == "beat:"]
    return shlex.split(line.partition(":")[2])


def unit_beat() -> list[str]:
    (line,) = [line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


def _beat(argv: list[str], var, cwd, log) -> subprocess.Popen:
    """The command line with this checkout's celery, in `cwd`, with `var` as the var dir."""
    assert argv[0].endswith(".venv/bin/celery") and argv[1:4] == ["-A", "botadmin", "beat"]
    env = {
        **os.environ,
        "BOTADMIN_VAR_DIR": str(var),
        "PYTHONPATH": str(ROOT),  # botadmin importable from another working directory
        "DATABASE_URL": database_url(),
    }
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), *argv[1:]],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _written(beat: subprocess.Popen, folder) -> bool:
    """Beat, still running, has made its schedule file in `folder` (a shelve: the dbm
    module Python has may add .dat, .dir and .bak)."""
    wait_until(lambda: beat.poll() is not None or list(folder.glob("celerybeat-schedule*")), 60)
    return beat.poll() is None and bool(list(folder.glob("celerybeat-schedule*")))


@pytest.mark.parametrize("command", [procfile_beat, unit_beat], ids=["Procfile", "systemd unit"])
def test_beat_keeps_its_schedule_in_the_var_dir_whatever_its_working_directory(
    transactional_db, tmp_path, command
):
    var, cwd = tmp_path / "var", tmp_path / "checkout"
    var.mkdir()
    cwd.mkdir()
    log_path = tmp_path / "beat.log"
    with log_path.open("wb") as log:
        beat = _beat(command(), var, cwd, log)
    try:
        assert _written(beat, var), log_path.read_text()[-3000:]
    finally:
        stop_process_group(beat)

    assert list(cwd.iterdir()) == []  # no var/ of its own in the working directory


def test_an_explicit_schedule_option_still_wins(transactional_db, tmp_path):
    """A command line copied from an earlier release keeps writing where it says."""
    var, cwd = tmp_path / "var", tmp_path / "checkout"
    (cwd / "var").mkdir(parents=True)
    log_path = tmp_path / "beat.log"
    with log_path.open("wb") as log:
        old = [*unit_beat(), "--schedule=var/celerybeat-schedule"]
        beat = _beat(old, var, cwd, log)
    try:
        assert _written(beat, cwd / "var"), log_path.read_text()[-3000:]
    finally:
        stop_process_group(beat)

    assert not list(var.glob("celerybeat-schedule*"))
