"""`make run` as README.md starts it, then Ctrl-C: it ended with make's
"make: *** [Makefile:75: run] Error 130", which reads as a failure."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

from devtools.processes import ROOT

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


def test_ctrl_c_ends_make_run_quietly_with_every_process_stopped(tmp_path):
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
            start_new_session=True,  # a terminal's foreground group, as Ctrl-C signals it
        )
    sessions: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while not _serves_the_login_page(web):
            if make.poll() is not None or time.monotonic() > deadline:
                pytest.fail("make run did not start:\n" + log_path.read_text()[-5000:])
            time.sleep(0.5)

        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C
        make.wait(timeout=60)
        output = log_path.read_text()
        sessions = {int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", output)}

        assert "make: ***" not in output
        assert output.rstrip().endswith("make run: stopped; every process it started has ended.")
        assert make.returncode in (0, -signal.SIGINT)  # no error: quiet, or by the signal
        assert len(sessions) == len((ROOT / "Procfile").read_text().splitlines())
        assert sessions_alive(sessions) == []
    finally:
        _kill_leftovers(make, sessions | {make.pid})


def _serves_the_login_page(port: str) -> bool:
    try:
        page = requests.get(f"http://127.0.0.1:{port}/console/login/", timeout=5)
    except requests.RequestException:
        return False
    return page.status_code == 200


def _kill_leftovers(make: subprocess.Popen, sessions: set[int]) -> None:
    for session in sessions:
        try:
            os.killpg(session, signal.SIGKILL)
        except ProcessLookupError:
            pass
    make.wait(timeout=10)
