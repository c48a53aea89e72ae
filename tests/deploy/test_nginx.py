"""deploy/nginx/botadmin.conf, run by a real nginx in front of botadmin's gunicorn: the
Host, the client's address and scheme, large bodies and the request id reach botadmin
as docs/install.md says."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from devtools.processes import ROOT, database_url, stop_process_group
from tests.messaging.conftest import _free_port, running_gunicorn
from tests.polling import wait_until

CONF = ROOT / "deploy/nginx/botadmin.conf"
HOST = "botadmin.example.com"
MB = 1024 * 1024
NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)),
    None,
)
needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx-light)"
)


def test_the_config_has_what_botadmin_needs_from_its_proxy():
    """Read without nginx: the directives whose absence breaks botadmin in production."""
    text = CONF.read_text()
    for directive in (
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Request-ID $botadmin_request_id;",
        "large_client_header_buffers 4 16k;",
        "proxy_read_timeout 35s;",
    ):
        assert directive in text
    from django.conf import settings

    # nginx lets through every body botadmin answers itself (its JSON 7000002 beyond).
    allowed = int(re.search(r"client_max_body_size (\d+)m;", text)[1]) * MB
    largest = max(
        settings.BOTADMIN_SEND_MAX_BODY_BYTES, settings.BOTADMIN_UPLOAD_MEDIA_MAX_BODY_BYTES
    )
    assert largest < allowed
    assert "server 127.0.0.1:8000;" in text  # gunicorn_conf.py's default bind
    # Every server logs in the format that masks the secret, none in nginx's `combined`.
    servers = text.count("\nserver {")
    assert text.count("access_log /var/log/nginx/botadmin.access.log botadmin;") == servers
    assert '"$botadmin_logged_request"' in text and '"$request"' not in text
    # The error log names the request line as sent: under /api/ it leaves out level error.
    api = text[text.index("location /api/ {") :]
    assert "error_log /var/log/nginx/botadmin.error.log crit;" in api[: api.index("}")]


def _site(gunicorn_port: int, http_port: int, https_port: int, folder: Path) -> str:
    """The shipped file with this test's ports, certificate and log folder."""
    text = CONF.read_text()
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{gunicorn_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen [::]:80;": "",
        "listen [::]:443 ssl;": "",
        f"/etc/letsencrypt/live/{HOST}/fullchain.pem": str(folder / "cert.pem"),
        f"/etc/letsencrypt/live/{HOST}/privkey.pem": str(folder / "key.pem"),
        "/var/log/nginx/": f"{folder}/",
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@contextmanager
def running_nginx(folder: Path, site: str, https_port: int):
    """nginx in the foreground with `site` inside its http block; stopped afterwards."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", f"/CN={HOST}", "-keyout", folder / "key.pem", "-out", folder / "cert.pem"],
        check=True,
        capture_output=True,
    )
    (folder / "site.conf").write_text(site)
    temp = "".join(
        f"{name}_temp_path {folder / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        # As root, nginx's workers would otherwise run as nobody, who cannot write here.
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
        + "worker_processes 1;\nevents {}\n"
        + f"http {{\n{temp}include {folder / 'site.conf'};\n}}\n"
    )
    command = [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"]
    checked = subprocess.run([*command[:-2], "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: _listening(https_port), 10), (folder / "error.log").read_text()
        yield
    finally:
        stop_process_group(process, timeout=5)


def _listening(port: int) -> bool:
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
    except OSError:
        return False
    return True


def _https(port: int, method: str, path: str, body: bytes | None = None, headers=None, source=""):
    """One request to nginx over TLS as `Host: botadmin.example.com`, from the local
    address `source` (any 127.x.y.z reaches 127.0.0.1); the answer's status, headers and body."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    connection = http.client.HTTPSConnection(
        "127.0.0.1",
        port,
        timeout=30,
        context=context,
        source_address=(source, 0) if source else None,
    )
    try:
        connection.request(method, path, body=body, headers={"Host": HOST, **(headers or {})})
        answer = connection.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        connection.close()


@pytest.fixture
def proxied(transactional_db, tmp_path):
    """gunicorn configured as docs/install.md's production settings, behind the shipped nginx
    config; yields nginx's HTTPS port, HTTP port and gunicorn's log."""
    log = tmp_path / "gunicorn.log"
    env = {"ALLOWED_HOSTS": HOST, "BEHIND_HTTPS_PROXY": "1", "LOG_LEVEL": "INFO"}
    with running_gunicorn(database_url(), log, env) as base_url:
        gunicorn_port = int(base_url.rsplit(":", 1)[1])
        http_port, https_port = _free_port(), _free_port()
        site = _site(gunicorn_port, http_port, https_port, tmp_path)
        with running_nginx(tmp_path, site, https_port):
            yield https_port, http_port, log


@needs_nginx
def test_through_nginx_botadmin_gets_the_host_the_scheme_and_the_clients_address(proxied):
    https_port, http_port, log = proxied

    status, _headers, body = _https(https_port, "GET", "/api/nowhere", source="127.0.0.2")

    # botadmin's 404: not 400 (the Host reached it), not 301 to https (so did the scheme).
    assert status == 404 and json.loads(body)["errcode"] == 7000404
    # The access log names the client as X-Forwarded-For said, not nginx's 127.0.0.1.
    assert wait_until(lambda: '127.0.0.2 "GET /api/nowhere' in log.read_text(), 10)
    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    plain.request("GET", "/console/", headers={"Host": HOST})
    redirect = plain.getresponse()
    assert redirect.status == 301
    assert redirect.headers["Location"] == f"https://{HOST}/console/"


@needs_nginx
def test_a_5_mb_body_reaches_botadmin_and_a_larger_one_than_nginx_takes_is_json(proxied, bot):
    https_port, _http_port, _log = proxied
    json_body = {"Content-Type": "application/json"}
    five_mb = b'{"msgtype": "text", "text": {"content": "' + b"x" * (5 * MB) + b'"}}'

    status, headers, body = _https(
        https_port, "POST", f"/api/send?secret={bot.secret}", five_mb, json_body
    )

    # botadmin's own answer (its /api/send limit is 4 MB), not nginx's HTML 413.
    assert status == 413 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["errmsg"] == "request body too large: at most 4194304 bytes"

    status, headers, body = _https(https_port, "POST", "/api/send", b"x" * (23 * MB), json_body)

    assert status == 413 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["errcode"] == 7000002  # nginx's answer, in botadmin's envelope


@needs_nginx
def test_the_request_id_is_the_callers_or_nginxs_and_comes_back(proxied):
    https_port, _http_port, log = proxied

    _status, given, _body = _https(https_port, "GET", "/healthz", headers={"X-Request-ID": "lb-42"})
    _status, made, _body = _https(https_port, "GET", "/healthz")

    assert given["X-Request-ID"] == "lb-42"
    assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-ID"])  # nginx's $request_id
    access_log = log.parent / "botadmin.access.log"
    assert wait_until(lambda: f"request_id={made['X-Request-ID']}" in access_log.read_text(), 5)


# How a caller may spell the secret in the query string: each reaches botadmin as a secret
# (Django decodes the name) and must reach nginx's access log masked.
SECRET_SPELLINGS = [
    "/api/send?secret={secret}&conversation_id=wrGroup1",
    "/api/send?conversation_id=wrGroup1&secret={secret}",
    "/api/send?SECRET={secret}",
    "/api/send?secret[]={secret}",
    "/api/send?secret%5B%5D={secret}",
    "/api/send?secre%74={secret}&conversation_id=wrGroup1",
    "/api/send?%73ecret={secret}",
    "/api/send?secret={secret}&secret={secret}&secret={secret}",
    "/api/callback?corpsecret={secret}&agent_token={secret}",
    "/api/messages/3ca574f800bb437a9048baff04c84d9f?secret={secret}",
]


@needs_nginx
def test_the_access_log_never_holds_the_secret_of_a_query_string(proxied, bot):
    https_port, http_port, _log = proxied
    for spelling in SECRET_SPELLINGS:
        _https(https_port, "POST", spelling.format(secret=bot.secret), b"{}")
    # Over plain HTTP (redirected to HTTPS, the secret already on the wire): logged masked too.
    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    plain.request("GET", f"/api/send?secret={bot.secret}", headers={"Host": HOST})
    assert plain.getresponse().status == 301
    access_log = proxied_folder(proxied) / "botadmin.access.log"
    expected = len(SECRET_SPELLINGS) + 1
    assert wait_until(lambda: len(access_log.read_text().splitlines()) >= expected, 10)

    logged = access_log.read_text()

    assert bot.secret not in logged
    assert bot.secret[:8] not in logged
    # What is not secret stays readable: the path and the conversation, and the mask says
    # where the secret was.
    assert '"POST /api/send?secret=********&conversation_id=wrGroup1 HTTP/1.1"' in logged
    assert '"POST /api/send?conversation_id=wrGroup1&secret=******** HTTP/1.1"' in logged
    assert '"POST /api/send?secret[]=******** HTTP/1.1"' in logged
    assert '"POST /api/callback?corpsecret=********&agent_token=******** HTTP/1.1"' in logged
    # A name botadmin would decode into `secret`: the whole query string is masked.
    assert '"POST /api/send?******** HTTP/1.1"' in logged
    assert '"GET /api/send?secret=******** HTTP/1.1" 301' in logged


def proxied_folder(proxied) -> Path:
    """The folder nginx of `proxied` logs into (next to gunicorn's log)."""
    return proxied[2].parent


@needs_nginx
def test_a_request_gunicorn_fails_leaves_its_secret_in_none_of_nginxs_logs(tmp_path):
    """nginx's error log cannot be formatted and ends each line about a request with the
    request line as sent: under /api/ the shipped config logs no such error-level line."""
    secret = secrets.token_urlsafe(32)
    nobody_listens, http_port, https_port = _free_port(), _free_port(), _free_port()
    site = _site(nobody_listens, http_port, https_port, tmp_path)
    with running_nginx(tmp_path, site, https_port):
        for spelling in SECRET_SPELLINGS:
            status, _headers, _body = _https(
                https_port, "POST", spelling.format(secret=secret), b"{}"
            )
            assert status == 502  # gunicorn is down
        # A body over client_max_body_size: nginx logs that at level error too.
        status, _headers, _body = _https(
            https_port, "POST", f"/api/send?secret={secret}", b"x" * (23 * MB)
        )
        assert status == 413
        # Gunicorn's failure on a page that takes no secret is still in the error log.
        assert _https(https_port, "GET", "/healthz")[0] == 502
        access_log = tmp_path / "botadmin.access.log"
        expected = len(SECRET_SPELLINGS) + 2
        assert wait_until(lambda: len(access_log.read_text().splitlines()) >= expected, 10)
        error_log = tmp_path / "botadmin.error.log"
        assert wait_until(lambda: '"GET /healthz HTTP/1.1"' in error_log.read_text(), 10)

    for log in tmp_path.glob("*.log"):
        assert secret not in log.read_text(), log.name
        assert secret[:8] not in log.read_text(), log.name
    assert "connect() failed" in error_log.read_text()
    # The access log says what nginx got from gunicorn instead: nothing, for a 502.
    logged = access_log.read_text()
    assert ('"POST /api/send?secret=********&conversation_id=wrGroup1 HTTP/1.1" 502 ') in logged
    assert f"upstream=127.0.0.1:{nobody_listens} upstream_status=502 " in logged
    assert "upstream_connect_time=-" in logged
    assert '"POST /api/send?secret=******** HTTP/1.1" 413 ' in logged
    assert "upstream=- upstream_status=- " in logged  # nginx's own answer
