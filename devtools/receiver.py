"""A real HTTP server on 127.0.0.1 that records requests and answers as told.

with Receiver() as receiver:
    receiver.respond(500)                     # every request gets a 500
    receiver.respond(200, b'{"ok": 1}')       # …now a 200
    receiver.script([500, 500, 200])          # one status per request, then the last repeats
    receiver.url("/hook")                     # http://127.0.0.1:PORT/hook
    Receiver(port=n)                          # listen on a given port (a receiver that comes back)
    Receiver(host="10.0.0.1", tls=context)    # another local address; HTTPS with context's cert
    receiver.requests                         # [RecordedRequest(method, path, headers, body)]
    receiver.requests[0].verifies_with(secret)  # a receiver holding this whsec_ accepts it
    Receiver(signing_secret="whsec_…")        # a receiver that verifies: 401 to what it does not
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from botadmin.local_http import Answer, LocalServer, Request


@dataclass
class RecordedRequest:
    method: str
    path: str  # as requested, query included
    headers: dict[str, str]
    body: bytes

    def verifies_with(self, signing_secret: str) -> bool:
        """Whether a receiver holding `signing_secret` accepts this request, as the Standard
        Webhooks libraries check it: one of the `webhook-signature`'s signatures is made
        with that secret, and the `webhook-timestamp` is within 5 minutes of now."""
        try:
            Webhook(signing_secret).verify(self.body, self.headers, json_parse=False)
        except WebhookVerificationError:
            return False
        return True


class Receiver(LocalServer):
    keep_alive = False  # each request on its own connection

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        tls=None,
        signing_secret: str | None = None,
    ):
        super().__init__(host, port, tls)
        # Set: the receiver verifies, as an operator's should, and answers 401 (recorded
        # all the same) to a request this secret does not sign.
        self.signing_secret = signing_secret
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
        recorded = RecordedRequest(request.method, request.target, request.headers, request.body)
        self.requests.append(recorded)
        if self.signing_secret and not recorded.verifies_with(self.signing_secret):
            return Answer(401, b"signature not verified", {})
        with self._lock:
            status, body, headers = (
                self._script.pop(0) if len(self._script) > 1 else self._script[0]
            )
        return Answer(status, body, headers)
