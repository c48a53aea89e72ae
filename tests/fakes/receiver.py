"""A real HTTP server on 127.0.0.1 that records requests and answers as told.

with Receiver() as receiver:
    receiver.respond(500)                     # every request gets a 500
    receiver.respond(200, b'{"ok": 1}')       # …now a 200
    receiver.script([500, 500, 200])          # one status per request, then the last repeats
    receiver.url("/hook")                     # http://127.0.0.1:PORT/hook
    receiver.requests                         # [RecordedRequest(method, path, headers, body)]
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up (timeout tests) is not an error here


class Receiver:
    def __init__(self):
        self.requests: list[RecordedRequest] = []
        self._script: list[tuple[int, bytes, dict]] = [(200, b"ok", {})]
        self.delay = 0.0
        self._lock = threading.Lock()
        self._server = QuietHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self._script = [(status, body, headers or {})]

    def script(self, statuses: list[int]) -> None:
        self._script = [(status, b"", {}) for status in statuses]

    def wait_for(self, count: int, timeout: float = 10) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.requests

    def _next_answer(self) -> tuple[int, bytes, dict]:
        with self._lock:
            if len(self._script) > 1:
                return self._script.pop(0)
            return self._script[0]

    def _handler_class(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.requests.append(
                    RecordedRequest(self.command, self.path, dict(self.headers), body)
                )
                if receiver.delay:
                    time.sleep(receiver.delay)
                status, payload, headers = receiver._next_answer()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args):
                pass

        return Handler
