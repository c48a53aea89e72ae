"""A real HTTP server on 127.0.0.1 that records requests and answers as told.

with Receiver() as receiver:
    receiver.respond(500)                     # every request gets a 500
    receiver.respond(200, b'{"ok": 1}')       # …now a 200
    receiver.script([500, 500, 200])          # one status per request, then the last repeats
    receiver.url("/hook")                     # http://127.0.0.1:PORT/hook
    Receiver(port=n)                          # listen on a given port (a receiver that comes back)
    Receiver(host="10.0.0.1", tls=context)    # another local address; HTTPS with context's cert
    receiver.requests                         # [RecordedRequest(method, path, headers, body)]
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from botadmin.local_http import Answer, LocalServer, Request


@dataclass
class RecordedRequest:
    method: str
    path: str  # as requested, query included
    headers: dict[str, str]
    body: bytes


class Receiver(LocalServer):
    keep_alive = False  # each request on its own connection

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1", tls=None):
        super().__init__(host, port, tls)
        self.requests: list[RecordedRequest] = []
        self._script: list[tuple[int, bytes, dict]] = [(200, b"ok", {})]
        self._lock = threading.Lock()

    def respond(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self._script = [(status, body, headers or {})]

    def script(self, statuses: list[int]) -> None:
        self._script = [(status, b"", {}) for status in statuses]

    def wait_for(self, count: int, timeout: float = 10) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.requests

    def handle(self, request: Request) -> Answer:
        self.requests.append(
            RecordedRequest(request.method, request.target, request.headers, request.body)
        )
        with self._lock:
            status, body, headers = (
                self._script.pop(0) if len(self._script) > 1 else self._script[0]
            )
        return Answer(status, body, headers)
