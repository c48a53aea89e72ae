"""deploy/botadmin-manage: manage.py as the systemd units run botadmin (their user, their
environment file, the checkout as working directory), every argument passed on as given.
systemd-run is faked (tests/fakes/systemd_run.py): no systemd runs where the tests do."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from devtools.processes import ROOT

SCRIPT = ROOT / "deploy/botadmin-manage"
WEB_UNIT = ROOT / "deploy/systemd/botadmin-web.service"


@pytest.fixture
def systemd_run(tmp_path):
    """The fake on PATH; returns the calls it received so far."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "systemd-run"
    fake.write_text(f'#!/bin/sh\nexec {sys.executable} {ROOT}/tests/fakes/systemd_run.py "$@"\n')
    fake.chmod(0o755)
    log = tmp_path / "systemd-run.log"

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    calls.env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_SYSTEMD_RUN_LOG": str(log),
    }
    return calls


@pytest.fixture
def env_file(tmp_path):
    path = tmp_path / "env"
    path.write_text(f"BOTADMIN_VAR_DIR={tmp_path / 'var'}\nSECRET_KEY=botadmin-manage-test\n")
    return path


def run(script, *args, env, stdin=None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run(
        [script, *args],
        env=env,
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )


def test_the_script_is_plain_sh():
    assert subprocess.run(["sh", "-n", SCRIPT]).returncode == 0
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    checked = subprocess.run([shellcheck, SCRIPT], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_its_defaults_are_the_units_user_and_environment_file():
    unit = WEB_UNIT.read_text()
    script = SCRIPT.read_text()
    assert re.search(r"^User=(.+)$", unit, re.M)[1] == "botadmin"
    assert "user=${BOTADMIN_USER:-botadmin}" in script
    environment_file = re.search(r"^EnvironmentFile=(.+)$", unit, re.M)[1]
    assert f"env_file=${{BOTADMIN_ENV_FILE:-{environment_file}}}" in script
    # The checkout is the folder above deploy/: /opt/botadmin once installed as the
    # units expect.
    assert re.search(r"^WorkingDirectory=(.+)$", unit, re.M)[1] == "/opt/botadmin"


def test_it_runs_manage_py_as_the_botadmin_user_with_every_argument_as_given(systemd_run, env_file):
    arguments = ["export_messages", "--bot", "销售 team", "", "$HOME", "*", "a'b\"c", "-o", "x y"]

    done = run(SCRIPT, *arguments, env={**systemd_run.env, "BOTADMIN_ENV_FILE": str(env_file)})

    assert done.returncode == 0, done.stderr
    [call] = systemd_run()
    options, command = call["argv"][: call["argv"].index("--")], call["argv"]
    command = command[command.index("--") + 1 :]
    assert command == [f"{ROOT}/.venv/bin/python", "manage.py", *arguments]
    assert {
        "--wait",  # its exit status is the command's
        "--collect",
        "--pipe",  # no terminal: standard input and output handed over (a redirect)
        "--uid=botadmin",
        "--gid=botadmin",
        f"--property=EnvironmentFile={env_file}",
        f"--property=WorkingDirectory={ROOT}",
        "--property=UMask=0027",  # what it creates in var/, as the units do
    } <= set(options)


def test_on_a_terminal_the_command_gets_one_of_its_own(systemd_run, env_file):
    """createsuperuser and changepassword ask for a password on a terminal."""
    controller, terminal = os.openpty()
    try:
        done = run(
            SCRIPT,
            "createsuperuser",
            env={**systemd_run.env, "BOTADMIN_ENV_FILE": str(env_file)},
            stdin=terminal,
            stdout=terminal,
        )
    finally:
        os.close(terminal)
        os.close(controller)

    assert done.returncode == 0, done.stderr
    [call] = systemd_run()
    assert "--pty" in call["argv"] and "--pipe" not in call["argv"]


def test_the_command_runs_in_the_checkout_with_the_environment_file(
    systemd_run, env_file, tmp_path
):
    code = "import json, os, sys; print(json.dumps([os.getcwd(), sys.argv[1:]]))"
    env = {**systemd_run.env, "BOTADMIN_ENV_FILE": str(env_file), "FAKE_SYSTEMD_RUN_EXEC": "1"}

    done = run(SCRIPT, "shell", "-c", code, env=env)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [str(ROOT), ["shell", "-c", code]]
    assert (tmp_path / "var").is_dir()  # the settings came from the environment file


def test_without_var_it_says_how_to_create_it_and_runs_nothing(systemd_run, env_file, tmp_path):
    """The units' ReadWritePaths= fail on a missing var/ too (226/NAMESPACE)."""
    checkout = tmp_path / "checkout"
    (checkout / "deploy").mkdir(parents=True)
    shutil.copy2(SCRIPT, checkout / "deploy")

    done = run(
        checkout / "deploy/botadmin-manage",
        "migrate",
        env={**systemd_run.env, "BOTADMIN_ENV_FILE": str(env_file)},
    )

    assert done.returncode == 1
    assert f"install -d -o botadmin {checkout}/var" in done.stderr
    assert systemd_run() == []


def test_without_the_environment_file_it_runs_nothing(systemd_run, tmp_path):
    missing = tmp_path / "no-such-env"

    done = run(SCRIPT, "migrate", env={**systemd_run.env, "BOTADMIN_ENV_FILE": str(missing)})

    assert done.returncode == 1 and f"{missing} is missing" in done.stderr
    assert systemd_run() == []
