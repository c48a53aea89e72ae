"""A small threaded HTTP server on 127.0.0.1 that answers through one method.

The demo agent (`connectors/demo_agent.py`, run by `make run`) and the test
fakes (`tests/fakes/`: webhook receiver, WeCom robot API) are all "a real
server on 127.0.0.1 that answers as its rules say"; this is the part they
share: start and stop, the port, reading a request, writing an answer,
a delay, an answer that crawls in, cutting a connection, TLS. A subclass implements
`handle()`:

    class Echo(LocalServer):
        def handle(self, request: Request) -> Answer:
            return Answer(200, {"path": request.path})

    with Echo() as server:
        requests.get(server.url("/x"))
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: dict[str, str]  # first value of each parameter
    headers: dict[str, str]
    body: bytes
    target: str = ""  # the request line's target, query included
    client: tuple = ()  # the address and port it came from: one per connection

    def json(self):
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: bytes | dict | list = b""  # a dict or list is sent as JSON
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # read the request, then cut the connection without answering


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's listen backlog is 5: a sixth client connecting at once, before the
    # loop accepts, has its SYN dropped and retried a second later (TCP's first
    # retransmission), which looks like a slow server to a client asking in parallel.
    request_queue_size = 64

    def handle_error(self, request, client_address):
        pass  # a client that gave up on a slow answer is not an error here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this each keep-alive
    # answer waits ~40 ms for the delayed ACK.
    disable_nagle_algorithm = True

    def _handle(self):
        owner: LocalServer = self.server.owner
        if self.server is not owner._server:
            # Stopped: a kept-alive connection is dropped unanswered, like a dead server.
            self.close_connection = True
            return
        if not owner.keep_alive:
            self.protocol_version = "HTTP/1.0"
            self.close_connection = True
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        request = Request(
            self.command, url.path, query, dict(self.headers), body, self.path, self.client_address
        )
        answer = owner.handle(request)
        if owner.delay:
            time.sleep(owner.delay)
        if answer.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = answer.body
        headers = dict(answer.headers)
        if not isinstance(data, bytes):
            data = json.dumps(data, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json")
        if owner.trickle:
            self._write_slowly(answer.status, headers, data, owner.trickle)
            return
        self.send_response(answer.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _write_slowly(self, status: int, headers: dict, data: bytes, pause: float) -> None:
        """The answer a line at a time, `pause` seconds apart: each read a client makes
        gets something soon, the whole answer comes late."""
        reason = self.responses.get(status, ("",))[0]
        lines = [f"{self.protocol_version} {status} {reason}\r\n".encode()]
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            lines.append(f"{name}: {value}\r\n".encode())
        for line in [*lines, b"\r\n", data]:
            self.wfile.write(line)
            time.sleep(pause)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, *args):
        pass


class LocalServer:
    """Subclasses implement `handle(request) -> Answer`; it runs in the server's threads."""

    # HTTP/1.1 connections kept open between requests (as a real agent does);
    # False answers HTTP/1.0 and closes each connection.
    keep_alive = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None):
        self.delay = 0.0  # seconds between working out an answer and sending it
        self.trickle = 0.0  # seconds between the lines of an answer (one that crawls in)
        self._host, self._port = host, port
        self.tls = tls  # a server-side context: HTTPS with its certificate
        self._server: QuietServer | None = None

    def handle(self, request: Request) -> Answer:
        raise NotImplementedError

    def start(self):
        self._server = QuietServer((self._host, self._port), _Handler)
        self._server.owner = self
        self._port = self._server.server_address[1]
        if self.tls:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server:
            server, self._server = self._server, None
            server.shutdown()
            server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    def url(self, path: str = "") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self._host}:{self._port}{path}"
