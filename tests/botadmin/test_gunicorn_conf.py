"""botadmin/gunicorn_conf.py: what the web server of `make run` and production keeps where."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devtools.processes import ROOT, database_url
from tests.messaging.conftest import running_gunicorn, status_of_get
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

    # Written as client_address reads them: 10.0.3.7/24 is the network 10.0.3.0/24 (gunicorn
    # would not start with it), and an IPv4 proxy is trusted as a dual-stack socket sees it.
    assert printed() == (
        "['127.0.0.1/32', '10.0.3.0/24', '::ffff:127.0.0.1/128', '::ffff:10.0.3.0/120']"
    )
    assert printed("--forwarded-allow-ips", "10.9.9.9") == "['10.9.9.9']"


def test_gunicorn_takes_the_scheme_from_the_trusted_proxys_x_forwarded_proto_alone(
    transactional_db, tmp_path
):
    """Behind an HTTPS proxy (BEHIND_HTTPS_PROXY), plain HTTP is redirected to HTTPS. Django
    reads gunicorn's wsgi.url_scheme where it does not believe X-Forwarded-Proto, so gunicorn
    must not take a request for HTTPS on a header the proxy passes on from the client
    (X-Forwarded-Ssl, X-Forwarded-Protocol), nor refuse one the proxy marked https because
    the client added such a header, nor take a path prefix from a header."""
    env = {"BEHIND_HTTPS_PROXY": "1", "BOTADMIN_TRUSTED_PROXIES": "127.0.0.1"}
    https = {"X-Forwarded-Proto": "https"}
    with running_gunicorn(database_url(), tmp_path / "server.log", env) as base_url:

        def status(headers: dict, source: str = "127.0.0.1") -> int:
            return status_of_get(base_url, "/api/openapi.json", headers, source)

        assert status(https) == 200  # the proxy's word
        assert status(https, source="127.0.0.2") == 301  # a client's own, directly
        assert status({"X-Forwarded-Ssl": "on"}) == 301
        assert status({"X-Forwarded-Protocol": "ssl"}) == 301
        assert status({**https, "X-Forwarded-Ssl": "off"}) == 200
        # Believed, it would be the path's prefix: /api/openapi.json read as /openapi.json.
        assert status({**https, "SCRIPT_NAME": "/api"}) == 200


def _get(base_url: str, target: str) -> tuple[int, str]:
    """The status and Content-Type of `GET target`, the request line sent as written."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(
        host, int(port), timeout=30
    )  # a loaded CI machine; a hang still fails
    try:
        connection.request("GET", target)
        answer = connection.getresponse()
        answer.read()
        return answer.status, answer.getheader("Content-Type", "")
    finally:
        connection.close()


def test_a_request_line_up_to_gunicorns_maximum_reaches_botadmin(transactional_db, tmp_path):
    """PrometheusAlert puts the whole robot URL in `wxurl=`: a request line over gunicorn's
    default 4094 bytes got its HTML 414. 8190 is gunicorn's maximum; past it, its page."""
    prefix = "/api/users?secret=wrong&wxurl="

    def line_of(length: int) -> str:  # "GET {target} HTTP/1.1" of `length` bytes
        return prefix + "x" * (length - len(f"GET {prefix} HTTP/1.1"))

    with running_gunicorn(database_url(), tmp_path / "server.log") as base_url:
        longest = _get(base_url, line_of(8190))
        too_long = _get(base_url, line_of(8191))

    assert longest == (401, "application/json")  # botadmin's answer: a wrong secret
    assert too_long[0] == 414


WEB_SERVER_VARIABLES = ("HOST", "PORT", "WEB_PORT", "WEB_CONCURRENCY", "WEB_THREADS")


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A folder holding botadmin/gunicorn_conf.py as the checkout does, for a `.env` of the
    test's own beside it (the real checkout's .env is the developer's)."""
    (tmp_path / "botadmin").mkdir()
    shutil.copy(ROOT / "botadmin/gunicorn_conf.py", tmp_path / "botadmin")
    return tmp_path


def printed_config(checkout: Path, dotenv: str = "", **variables: str) -> dict[str, str]:
    """What `gunicorn --print-config` says of bind, workers and threads, with `dotenv` as
    the checkout's .env and `variables` in an environment that has none of its own."""
    (checkout / ".env").write_text(dotenv)
    env = {k: v for k, v in os.environ.items() if k not in WEB_SERVER_VARIABLES}
    result = subprocess.run(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--print-config",
            "-c",
            str(checkout / "botadmin/gunicorn_conf.py"),
            "botadmin.wsgi",
        ],
        cwd=ROOT,
        env={**env, **variables},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    config = {name.strip(): value.strip() for name, value in lines}
    return {name: config[name] for name in ("bind", "workers", "threads")}


def test_the_web_server_reads_host_port_and_its_size_from_dotenv_too(checkout):
    """docs/configuration.md: settings come from the environment or .env. gunicorn read
    these four before Django loaded .env: a server configured there listened on
    127.0.0.1:8000."""
    dotenv = "HOST=0.0.0.0\nPORT=8699\nWEB_CONCURRENCY=1\nWEB_THREADS=8\n"

    assert printed_config(checkout, dotenv) == {
        "bind": "['0.0.0.0:8699']",
        "workers": "1",
        "threads": "8",
    }


def test_the_environment_wins_over_dotenv_as_for_every_setting(checkout):
    config = printed_config(checkout, "PORT=8699\nWEB_THREADS=8\n", PORT="8701")

    assert (config["bind"], config["threads"]) == ("['127.0.0.1:8701']", "8")


def test_port_alone_says_where_the_web_server_listens(checkout):
    """A WEB_PORT left in the environment (make run's name for the port it hands the
    Procfile) once won over PORT."""
    assert printed_config(checkout, WEB_PORT="9999", PORT="8123")["bind"] == "['127.0.0.1:8123']"


@pytest.mark.parametrize(
    "variables, bind",
    [
        ({"HOST": "", "PORT": "", "WEB_THREADS": ""}, "['127.0.0.1:8000']"),  # empty: defaults
        ({"HOST": "::", "PORT": "8123"}, "['[::]:8123']"),  # was ':::8123', refused
        ({"HOST": "[::1]"}, "['[::1]:8000']"),
    ],
)
def test_an_empty_or_ipv6_host_makes_a_bind_gunicorn_takes(checkout, variables, bind):
    config = printed_config(checkout, **variables)

    assert config["bind"] == bind and config["threads"] == "4"
