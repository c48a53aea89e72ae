"""`make run` as README.md starts it, then Ctrl-C: it ended with make's
"make: *** [Makefile:75: run] Error 130", which reads as a failure. Then a SIGKILL to the
launcher alone, or to make alone: every process it started ends all the same."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from devtools.processes import ROOT
from tests.polling import wait_until

# The ports the test's servers listen on: the first free ones of this range.
PORTS = range(35500, 35600)


def free_ports(count: int) -> list[str]:
    found = []
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(str(port))
        if len(found) == count:
            return found
    pytest.fail(f"fewer than {count} free ports in {PORTS}")


def sessions_alive(sessions: set[int]) -> list[str]:
    """The processes (`ps` lines) still running in these sessions: honcho starts each of
    the Procfile's in one of its own, with the processes it starts in turn. A zombie has
    ended: its parent did, and init has yet to reap it."""
    ps = subprocess.run(["ps", "-e", "-o", "sid=,stat=,pid=,args="], capture_output=True, text=True)
    lines = (line.split(maxsplit=2) for line in ps.stdout.splitlines())
    return [" ".join(line) for line in lines if int(line[0]) in sessions and "Z" not in line[1]]


def start_make_run(tmp_path: Path) -> tuple[subprocess.Popen, str, Path]:
    """`make run` as README.md starts it, in a session of its own (a terminal's foreground
    group, as Ctrl-C signals it), once it serves the login page: make, the web port, the
    log."""
    web, agent, gateway = free_ports(3)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MAKE", "DATABASE_URL", "CELERY_", "CACHE_URL", "REDIS_URL"))
    }
    env |= {
        "BOTADMIN_VAR_DIR": str(tmp_path),  # its own SQLite database and file broker
        "PORT": web,
        "DEMO_AGENT_PORT": agent,
        "WECOM_AIBOT_GATEWAY_PORT": gateway,
    }
    log_path = tmp_path / "make-run.log"
    with open(log_path, "wb") as log:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "-o", "venv", "run"],  # -o venv: installs nothing
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while not _serves_the_login_page(web):
        if make.poll() is not None or time.monotonic() > deadline:
            _kill_leftovers(make, started_sessions(log_path) | {make.pid})
            pytest.fail("make run did not start:\n" + log_path.read_text()[-5000:])
        time.sleep(0.5)
    return make, web, log_path


def started_sessions(log_path: Path) -> set[int]:
    return {int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", log_path.read_text())}


def test_ctrl_c_ends_make_run_quietly_with_every_process_stopped(tmp_path):
    make, _, log_path = start_make_run(tmp_path)
    sessions: set[int] = set()
    try:
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        make.wait(timeout=60)
        output = log_path.read_text()
        sessions = started_sessions(log_path)

        assert "make: ***" not in output
        assert output.rstrip().endswith("make run: stopped; every process it started has ended.")
        assert make.returncode in (0, -signal.SIGINT)  # no error: quiet, or by the signal
        assert len(sessions) == len((ROOT / "Procfile").read_text().splitlines())
        assert sessions_alive(sessions) == []
    finally:
        _kill_leftovers(make, sessions | {make.pid})


def test_a_launcher_killed_alone_leaves_no_process_running_nor_the_port_taken(tmp_path):
    """A SIGKILL to the launcher alone (the OOM killer, `kill -9` of its pid) left honcho
    and every process it started running, on the web port: the next `make run` failed,
    or ran a second worker on the same broker."""
    make, web, log_path = start_make_run(tmp_path)
    sessions = started_sessions(log_path)
    (launcher,) = children(make.pid)
    started = descendants(launcher)
    try:
        os.kill(launcher, signal.SIGKILL)

        assert wait_until(lambda: not alive(started) and not sessions_alive(sessions), 30), (
            sessions_alive(sessions),
            alive(started),
        )
        assert port_is_free(web)
    finally:
        _kill_leftovers(make, sessions | {make.pid}, started)


def test_make_killed_alone_leaves_no_process_running_nor_the_port_taken(tmp_path):
    """A SIGKILL to make alone (an editor's stop button, `kill -9` of its pid), which it
    cannot pass on to its recipe, left the launcher, honcho and every process running."""
    make, web, log_path = start_make_run(tmp_path)
    sessions = started_sessions(log_path)
    started = descendants(make.pid)
    try:
        os.kill(make.pid, signal.SIGKILL)

        assert wait_until(lambda: not alive(started) and not sessions_alive(sessions), 30), (
            sessions_alive(sessions),
            alive(started),
        )
        assert port_is_free(web)
    finally:
        _kill_leftovers(make, sessions | {make.pid}, started)


def process_table() -> list[tuple[int, int, str]]:
    """(pid, parent pid, state) of every process."""
    ps = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,stat="], capture_output=True, text=True)
    return [
        (int(pid), int(ppid), stat) for pid, ppid, stat in map(str.split, ps.stdout.splitlines())
    ]


def children(pid: int) -> list[int]:
    return [child for child, parent, _ in process_table() if parent == pid]


def descendants(pid: int) -> set[int]:
    found, table = set(), process_table()
    parents = {pid}
    while parents:
        parents = {child for child, parent, _ in table if parent in parents} - found
        found |= parents
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie has ended)."""
    return {pid for pid, _, stat in process_table() if pid in pids and "Z" not in stat}


def port_is_free(port: str) -> bool:
    """Nothing listens on it: the next `make run`'s web server can (as gunicorn does, with
    SO_REUSEADDR: the closed connections of the test's requests may linger)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", int(port)))
        except OSError:
            return False
    return True


def _serves_the_login_page(port: str) -> bool:
    try:
        page = requests.get(f"http://127.0.0.1:{port}/console/login/", timeout=5)
    except requests.RequestException:
        return False
    return page.status_code == 200


def _kill_leftovers(
    make: subprocess.Popen, sessions: set[int], processes: set[int] = frozenset()
) -> None:
    for session in sessions:
        try:
            os.killpg(session, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in alive(processes):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    make.wait(timeout=10)
