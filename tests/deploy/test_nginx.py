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
import socket
import ssl
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from botadmin.api import error_for_status
from botadmin.local_http import Answer, LocalServer
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
    # The error log names the request line as sent: under /api/ (and WeCom's /cgi-bin/,
    # where a robot key comes) it leaves out level error.
    for location in ("location /api/ {", "location /cgi-bin/ {"):
        api = text[text.index(location) :]
        assert "error_log /var/log/nginx/botadmin.error.log crit;" in api[: api.index("}")]


def _api_error_bodies(text: str) -> dict[str, str]:
    """The `map $status $botadmin_api_error` of the config: status (or "default") → body."""
    block = text[text.index("map $status $botadmin_api_error {") :]
    block = block[: block.index("\n}")]
    return dict(re.findall(r"^\s+(\d+|default)\s+'(.*)';$", block, re.M))


def test_what_nginx_answers_under_api_carries_the_errcode_botadmin_gives_that_status():
    """Read without nginx: every error nginx may answer itself under /api/ has a body in
    the envelope, with the errcode botadmin's own answer of that status has (docs/api.md)."""
    text = CONF.read_text()
    bodies = _api_error_bodies(text)
    # Every status the error pages catch (494 is sent as 400) has its body; the 5xx
    # without one of their own share the default.
    caught = {
        int(status)
        for line in re.findall(r"error_page ([\d ]+) @(?:api_error|malformed_request);", text)
        for status in line.split()
    }
    assert {400, 413, 502, 504} <= caught
    for status in caught - {494}:
        assert str(status) in bodies or (status >= 500 and "default" in bodies), status

    for status, body in bodies.items():
        answer = json.loads(body)
        expected = error_for_status(500 if status == "default" else int(status))
        assert answer["errcode"] == expected.code, status
        assert answer["errmsg"].startswith(expected.default_message), status


def _site(gunicorn_port: int, http_port: int, https_port: int, folder: Path, changes=None) -> str:
    """The shipped file with this test's ports, certificate and log folder (and `changes`,
    more text to replace)."""
    text = CONF.read_text()
    replacements = {
        **(changes or {}),
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
    assert wait_until(lambda: f"request_id={made['X-Request-ID']}" in access_log.read_text(), 30)


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
    # A robot tool given botadmin's host with WeCom's own path and its robot key.
    "/cgi-bin/webhook/send?key={secret}",
    # The same tool joining a base URL ending in / with it: nginx matches `location
    # /cgi-bin/` (merge_slashes) and passes the path on as sent.
    "//cgi-bin/webhook/send?key={secret}",
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
    assert '"POST /cgi-bin/webhook/send?key=******** HTTP/1.1" 404' in logged
    assert '"POST //cgi-bin/webhook/send?key=******** HTTP/1.1" 404' in logged
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
            status, headers, _body = _https(
                https_port, "POST", spelling.format(secret=secret), b"{}"
            )
            assert status == 502  # gunicorn is down
            assert headers["Content-Type"] == "application/json"  # the envelope
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


def _raw_https(port: int, request: bytes) -> tuple[int, str, bytes]:
    """A request written byte for byte (a malformed one, which http.client would not
    send), over TLS; the answer's status, Content-Type and body (nginx closes after it)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=30) as plain:
        with context.wrap_socket(plain, server_hostname=HOST) as connection:
            connection.sendall(request)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers["Content-Type"], body


@pytest.fixture
def nginx_without_gunicorn(tmp_path):
    """The shipped config in front of a port nobody listens on; yields nginx's HTTPS port."""
    nobody_listens, http_port, https_port = _free_port(), _free_port(), _free_port()
    with running_nginx(
        tmp_path, _site(nobody_listens, http_port, https_port, tmp_path), https_port
    ):
        yield https_port


@needs_nginx
def test_with_gunicorn_down_an_api_caller_gets_json_502_and_a_too_large_body_json_413(
    nginx_without_gunicorn,
):
    port = nginx_without_gunicorn
    json_body = {"Content-Type": "application/json", "X-Request-ID": "lb-502"}

    status, headers, body = _https(port, "POST", "/api/send?secret=s", b"{}", json_body)

    assert status == 502 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "errcode": -1,
        "errmsg": "system busy, retry later: botadmin is not answering (502 from the proxy)",
    }
    # The id the access log names the failure with, as botadmin's own answers carry it.
    assert headers["X-Request-ID"] == "lb-502"
    assert headers["X-Content-Type-Options"] == "nosniff"
    # Every path under /api/, the WeCom app's callback URL included, and every method.
    for method, path in [("GET", "/api/groups"), ("GET", "/api/wecom_app/1/callback")]:
        status, headers, body = _https(port, method, path)
        assert (status, json.loads(body)["errcode"]) == (502, -1)

    # nginx refuses a body over client_max_body_size before it asks gunicorn anything.
    status, headers, body = _https(port, "POST", "/api/send", b"x" * (23 * MB), json_body)

    assert status == 413 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "errcode": 7000002,
        "errmsg": "request body too large: over the proxy limit (client_max_body_size)",
    }

    # The console's pages keep nginx's own page.
    status, headers, _body = _https(port, "GET", "/console/")
    assert status == 502 and headers["Content-Type"] == "text/html"


class Stuck(LocalServer):
    """An upstream that takes the request and answers after `delay` seconds: a stuck
    gunicorn worker."""

    def handle(self, request):
        return Answer(200, {"errcode": 0, "errmsg": "ok"})


@needs_nginx
def test_an_api_request_gunicorn_does_not_answer_in_time_is_json_504(tmp_path):
    http_port, https_port = _free_port(), _free_port()
    with Stuck() as stuck:
        stuck.delay = 10
        # nginx's wait shortened from 35 s to 1 s: the same answer, sooner.
        shorter = {"proxy_read_timeout 35s;": "proxy_read_timeout 1s;"}
        site = _site(stuck.port, http_port, https_port, tmp_path, shorter)
        with running_nginx(tmp_path, site, https_port):
            status, headers, body = _https(https_port, "POST", "/api/send", b"{}")

    assert status == 504 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "errcode": -1,
        "errmsg": "system busy, retry later: botadmin did not answer in time (504 from the proxy)",
    }


MALFORMED = {
    "a broken chunked body": b"POST {path} HTTP/1.1\r\nHost: " + HOST.encode()
    + b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "two Host headers": b"GET {path} HTTP/1.1\r\nHost: " + HOST.encode()
    + b"\r\nHost: other.example.com\r\n\r\n",
    "headers over large_client_header_buffers": b"GET {path} HTTP/1.1\r\nHost: "
    + HOST.encode() + b"\r\nX-Big: " + b"x" * (20 * 1024) + b"\r\n\r\n",
}  # fmt: skip


@needs_nginx
@pytest.mark.parametrize("malformed", MALFORMED)
def test_a_request_nginx_finds_malformed_is_json_400_under_api_only(
    nginx_without_gunicorn, malformed
):
    port = nginx_without_gunicorn
    request = MALFORMED[malformed]

    status, content_type, body = _raw_https(port, request.replace(b"{path}", b"/api/send"))

    assert (status, content_type) == (400, "application/json")
    assert json.loads(body)["errcode"] == 40035
    assert json.loads(body)["errmsg"].startswith("invalid parameter: malformed request")

    wecoms = _raw_https(port, request.replace(b"{path}", b"/cgi-bin/webhook/send?key=k"))
    assert wecoms[:2] == (400, "application/json")
    status, content_type, _body = _raw_https(port, request.replace(b"{path}", b"/console/"))
    assert (status, content_type) == (400, "text/html")
