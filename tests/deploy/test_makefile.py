"""`make venv`: a virtualenv left without pip (ensurepip missing) is made again, and a
Python other than 3.11 (pyproject.toml's requires-python) is refused, saying what to do.
`make venv-prod`: the runtime lock, and nothing it does not pin.
Run on a copy of the Makefile with lock files that download nothing.
`make run`: the web port and public URL come from the command line, the environment or
.env, in that order."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools import make_run
from devtools.processes import ROOT
from devtools.unlocked_packages import normalized

# The interpreter this test runs on (3.11), outside its virtualenv.
BASE_PYTHON = str(Path(sys.executable).resolve())


@pytest.fixture
def checkout(tmp_path) -> Path:
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    (tmp_path / "requirements.lock").write_text("# nothing to install\n")
    (tmp_path / "requirements-prod.lock").write_text("# nothing to install\n")
    (tmp_path / "devtools").mkdir()
    shutil.copy(ROOT / "devtools/unlocked_packages.py", tmp_path / "devtools")
    return tmp_path


def make_venv(
    checkout: Path, python: str = BASE_PYTHON, target: str = "venv"
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "VIRTUAL_ENV"))}
    return subprocess.run(
        ["make", "--no-print-directory", target, f"PYTHON={python}"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def fake_python(folder: Path, name: str, script: str) -> str:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return str(path)


def test_a_python_other_than_3_11_is_refused_saying_how_to_get_3_11(checkout):
    python = fake_python(
        checkout,
        "python3.12",
        '[ "$1" = --version ] && echo "Python 3.12.3" && exit 0\n'
        f'[ "$1" = -c ] && exit 1\nexec {BASE_PYTHON} "$@"',
    )

    result = make_venv(checkout, python)

    assert result.returncode != 0
    assert "botadmin needs Python 3.11" in result.stderr and "Python 3.12.3" in result.stderr
    assert "make PYTHON=python3.11" in result.stderr
    assert "python3.11-venv" in result.stderr
    assert not (checkout / ".venv").exists()


def test_without_ensurepip_no_half_made_venv_is_left_and_the_package_is_named(checkout):
    # What Debian's python3 does without python3-venv: bin/python made, no pip, exit 1.
    python = fake_python(
        checkout,
        "python3",
        f'if [ "$1 $2" = "-m venv" ]; then {BASE_PYTHON} -m venv --without-pip "$3"\n'
        'echo "The virtual environment was not created successfully because ensurepip '
        'is not available." >&2; exit 1; fi\n'
        f'exec {BASE_PYTHON} "$@"',
    )

    for _ in range(2):  # the second run tries again instead of using a broken .venv
        result = make_venv(checkout, python)

        assert result.returncode != 0
        assert "ensurepip is missing" in result.stderr
        assert "apt install python3-venv" in result.stderr
        assert "No module named pip" not in result.stderr
        assert not (checkout / ".venv").exists()


def test_a_venv_that_cannot_run_pip_is_made_again(checkout):
    subprocess.run([BASE_PYTHON, "-m", "venv", "--without-pip", checkout / ".venv"], check=True)

    result = make_venv(checkout, BASE_PYTHON)

    assert result.returncode == 0, result.stderr
    pip = subprocess.run([checkout / ".venv/bin/python", "-m", "pip", "--version"])
    assert pip.returncode == 0
    assert (checkout / ".venv/.installed-from-lock").exists()
    again = make_venv(checkout, BASE_PYTHON)
    assert again.returncode == 0 and "pip install" not in again.stdout  # up to date


def plant_distribution(venv: Path, name: str, version: str) -> None:
    """`name` installed in `venv` as pip leaves a package (its dist-info, RECORD and all),
    without downloading it."""
    site = next((venv / "lib").glob("python3.*/site-packages"))
    module = site / f"{name.lower()}_planted.py"
    module.write_text("")
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    files = [module, info / "METADATA", info / "INSTALLER", info / "RECORD"]
    (info / "RECORD").write_text("".join(f"{path.relative_to(site)},,\n" for path in files))


def installed(venv: Path) -> set[str]:
    listed = subprocess.run(
        [venv / "bin/python", "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    )
    return {normalized(package["name"]) for package in json.loads(listed.stdout)}


def test_venv_prod_installs_the_runtime_lock_and_removes_what_it_does_not_pin(checkout):
    """A production host whose .venv `make venv` made, with the dev lock's tools in it."""
    assert make_venv(checkout).returncode == 0
    venv = checkout / ".venv"
    plant_distribution(venv, "pytest", "9.2.0")
    plant_distribution(venv, "Typing_Extensions", "4.15.0")
    (checkout / "requirements-prod.lock").write_text(
        "typing-extensions==4.15.0\n    # via botadmin (pyproject.toml)\n"
    )

    result = make_venv(checkout, target="venv-prod")

    assert result.returncode == 0, result.stderr
    assert "does not pin: pytest\n" in result.stdout
    assert {"typing-extensions", "pip"} <= installed(venv)
    assert "pytest" not in installed(venv)
    assert not list(venv.glob("lib/python3.*/site-packages/pytest_planted.py"))
    again = make_venv(checkout, target="venv-prod")
    assert again.returncode == 0 and "pip install" not in again.stdout  # up to date
    # A developer's `make venv` after it installs the dev lock again.
    assert "-r requirements.lock" in make_venv(checkout).stdout


RUN_VARIABLES = (
    "PORT",
    "HOST",
    "WEB_PORT",
    "BOTADMIN_PUBLIC_URL",
    "BOTADMIN_ALLOW_PRIVATE_URLS",
    "TIME_ZONE",
    "TZ",
)


def procfile_environment(tmp_path: Path, dotenv: str, *arguments: str, **variables: str):
    """The environment `make run` starts the Procfile's processes in, with `dotenv` as the
    checkout's .env: a copy of the Makefile beside the real .venv, set up already, and a
    honcho that writes down its environment instead of starting anything."""
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / ".env").write_text(dotenv)
    written = tmp_path / "honcho-environment"
    honcho = fake_python(tmp_path, "honcho", f"env > {written}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", *RUN_VARIABLES))}
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", "setup", "run", f"HONCHO={honcho}", *arguments],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT), **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = (line.split("=", 1) for line in written.read_text().splitlines() if "=" in line)
    return {name: value for name, value in lines if name in RUN_VARIABLES}


def test_make_run_takes_the_web_port_from_dotenv_as_every_setting(tmp_path):
    """`PORT=8123` in .env: the web server listened on 8000 all the same (the Makefile's
    own default became an environment variable, which wins over .env), and forwarded media
    links pointed there."""
    processes = procfile_environment(tmp_path, "PORT=8123\nHOST=0.0.0.0\n")

    assert processes["WEB_PORT"] == "8123"
    assert processes["BOTADMIN_PUBLIC_URL"] == "http://127.0.0.1:8123"
    assert "HOST" not in processes  # gunicorn and the banner read .env themselves


@pytest.mark.parametrize(
    ("arguments", "variables", "port", "public_url"),
    [
        ((), {}, "8000", "http://127.0.0.1:8000"),  # nothing set: the default
        (("PORT=8124",), {}, "8124", "http://127.0.0.1:8124"),  # the command line wins
        ((), {"PORT": "8125"}, "8125", "http://127.0.0.1:8125"),  # the environment too
        (
            (),
            {"BOTADMIN_PUBLIC_URL": "https://bots.example.com"},
            "8000",
            "https://bots.example.com",
        ),
    ],
)
def test_make_run_lets_the_command_line_and_environment_win_over_dotenv(
    tmp_path, arguments, variables, port, public_url
):
    dotenv = "" if port == "8000" else "PORT=8123\n"
    processes = procfile_environment(tmp_path, dotenv, *arguments, **variables)

    assert (processes["WEB_PORT"], processes["BOTADMIN_PUBLIC_URL"]) == (port, public_url)
    assert processes["BOTADMIN_ALLOW_PRIVATE_URLS"] == "1"


def test_make_run_links_forwarded_media_to_the_public_url_of_dotenv(tmp_path):
    processes = procfile_environment(
        tmp_path, "PORT=8123\nBOTADMIN_PUBLIC_URL=https://bots.example.com/\n"
    )

    assert processes["BOTADMIN_PUBLIC_URL"].rstrip("/") == "https://bots.example.com"


@pytest.mark.parametrize(
    ("dotenv", "variables", "zone"),
    [
        ("", {"TZ": "UTC"}, "Asia/Shanghai"),  # nothing set: settings.py's default
        ("TIME_ZONE=Europe/Berlin\n", {"TZ": "UTC"}, "Europe/Berlin"),
        ("TIME_ZONE=Europe/Berlin\n", {"TIME_ZONE": "America/New_York"}, "America/New_York"),
    ],
)
def test_make_runs_log_stamps_its_lines_in_the_time_zone_the_processes_log_in(
    tmp_path, dotenv, variables, zone
):
    """On a UTC machine honcho's stamp said 09:11:35 and the web server's own 17:11:35 +0800
    on the same line: honcho gets TZ=TIME_ZONE, read as the processes read it."""
    processes = procfile_environment(tmp_path, dotenv, **variables)

    assert processes["TZ"] == zone


def test_make_runs_default_time_zone_is_the_settings_default():
    settings_py = (ROOT / "botadmin" / "settings.py").read_text()

    assert f'env.str("TIME_ZONE", default="{make_run.DEFAULT_TIME_ZONE}")' in settings_py


def test_make_run_creates_files_for_botadmins_user_and_group_only(checkout):
    """Every command `make run` starts (setup's, then the launcher that execs honcho's
    services) runs with umask 027, as the systemd units' UMask=0027: the database, broker and media are not for
    other users of the machine. A fake .venv records each command's umask."""
    seen = fake_venv(checkout)

    result = make_in(checkout, "run")

    assert result.returncode == 0, result.stderr
    lines = seen.read_text().splitlines()
    assert [line.split()[1:4] for line in lines] == [
        ["python", "-m", "devtools.collect_static"],
        ["python", "manage.py", "migrate"],
        ["python", "manage.py", "createcachetable"],
        ["python", "manage.py", "setup_demo"],
        ["python", "-m", "devtools.make_run"],
    ]
    assert {line.split()[0] for line in lines} == {"0027"}


def fake_venv(checkout: Path) -> Path:
    """A .venv whose python and honcho write down their umask and arguments in the file
    returned."""
    bin_folder = checkout / ".venv/bin"
    bin_folder.mkdir(parents=True)
    seen = checkout / "umasks"
    for name in ("python", "honcho"):
        fake_python(bin_folder, name, f'echo "$(umask) {name} $*" >> {seen}')
    (checkout / ".venv/.installed-from-lock").touch()  # newer than the lock: no install
    return seen


def make_in(checkout: Path, target: str) -> subprocess.CompletedProcess:
    ignored = ("MAKE", "VIRTUAL_ENV", "BOTADMIN_VAR_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ignored)}
    return subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=checkout,
        env={**env, "PYTHON": BASE_PYTHON},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_runs_web_server_stops_within_the_time_honcho_gives_it():
    """Ctrl-C: honcho kills what has not stopped after KILL_WAIT seconds, and gunicorn's
    own graceful timeout (10 s in production) would end in "sending SIGKILL to web.1"."""
    from honcho.manager import KILL_WAIT

    web = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    graceful = re.search(r"--graceful-timeout[= ](\d+)", web)
    assert graceful and int(graceful.group(1)) < KILL_WAIT
