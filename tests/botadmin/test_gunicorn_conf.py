"""botadmin/gunicorn_conf.py: what the web server of `make run` and production keeps where."""

from __future__ import annotations

import os
import subprocess

from devtools.processes import ROOT, database_url
from tests.messaging.conftest import running_gunicorn
from tests.polling import wait_until


def test_the_control_socket_is_in_the_installations_var_folder(transactional_db, tmp_path):
    """Not gunicorn's ~/.gunicorn/gunicorn.ctl, which every gunicorn of the user shares
    and which systemd's botadmin user could not create in a checkout it does not own."""
    home, var = tmp_path / "home", tmp_path / "var"
    home.mkdir()
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": "", "BOTADMIN_VAR_DIR": str(var)}
    with running_gunicorn(database_url(), tmp_path / "server.log", env):
        assert wait_until(lambda: (var / "gunicorn.ctl").is_socket(), 10)
        assert not (home / ".gunicorn").exists()


def test_gunicorn_believes_forwarded_headers_from_the_trusted_proxies_alone():
    """X-Forwarded-Proto (gunicorn's forwarded_allow_ips) from the proxies whose
    X-Forwarded-For botadmin believes; a --forwarded-allow-ips still wins."""
    env = {**os.environ, "BOTADMIN_TRUSTED_PROXIES": "127.0.0.1,10.0.3.0/24"}
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "--print-config",
        "-c",
        "botadmin/gunicorn_conf.py",
    ]

    def printed(*options: str) -> str:
        result = subprocess.run(
            [*command, *options, "botadmin.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        (line,) = [line for line in result.stdout.splitlines() if "forwarded_allow_ips" in line]
        return line.split("=", 1)[1].strip()

    assert printed() == "['127.0.0.1', '10.0.3.0/24']"
    assert printed("--forwarded-allow-ips", "10.9.9.9") == "['10.9.9.9']"
