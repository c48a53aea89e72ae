"""Why a POST to an endpoint failed, in the operator's words.

`requests` describes a failed connection in a Python exception's English
("_BoundedHTTPPool(host='127.0.0.1', port=9): Max retries exceeded … [Errno 111]
Connection refused"), which reads as noise in the Chinese console. `unanswered(error)`
names the kind of failure (refused, name not resolved, timed out, TLS) as a Reason,
translated where it is shown, and keeps the exception's own text as the reason's
`detail` parameter: the msgid does not show it, the console offers it behind a
"Technical details" disclosure (`{{ text|reason_detail }}`). `answered(status)` says
what an HTTP status other than 2xx tells the operator.
"""

from __future__ import annotations

import errno
import socket
import ssl

import requests
from django.utils.translation import gettext_noop
from urllib3.exceptions import NameResolutionError

from botadmin import http, reasons
from botadmin.reasons import Reason

NO_ANSWER = gettext_noop("no answer from the endpoint: %(error)s")

REFUSED = gettext_noop("the connection was refused (nothing listens on that port)")
NOT_RESOLVED = gettext_noop("the host name could not be resolved (DNS)")
CONNECT_TIMED_OUT = gettext_noop("the connection timed out")
READ_TIMED_OUT = gettext_noop("no complete answer in time")
TLS = gettext_noop("the TLS (HTTPS) connection failed: certificate or handshake")
RESET = gettext_noop("the connection was closed before an answer")
OTHER = gettext_noop("the connection failed")


def unanswered(error: requests.RequestException, keep: int) -> Reason:
    """The Reason an attempt failed with `error` (a RequestException); the exception's
    text, cut to `keep` characters, is its `detail`."""
    described = reasons.of(error)
    if isinstance(described, Reason):  # said in our words already (ResolveTimeout)
        return Reason(NO_ANSWER, error=described)
    detail = f"{type(error).__name__}: {error}"[:keep]
    return Reason(NO_ANSWER, error=Reason(_kind(error)), detail=detail)


ANSWERED = gettext_noop("the endpoint answered HTTP %(status)s: %(meaning)s")
STATUS_MEANINGS = {
    400: gettext_noop("it did not accept the event's body"),
    401: gettext_noop("it refused the request: check its credentials and the signature check"),
    403: gettext_noop("it refused the request: check its credentials and the signature check"),
    404: gettext_noop("no such path: check the URL"),
    405: gettext_noop("the URL does not take a POST"),
    408: gettext_noop("it timed out reading the event"),
    413: gettext_noop("the event was too large for it"),
    429: gettext_noop("it asks to slow down (rate limited)"),
}
REDIRECTED = gettext_noop("a redirect, which is not followed: use the final URL")
CLIENT_ERROR = gettext_noop("it refused the event")
SERVER_ERROR = gettext_noop("an error on the receiving server")


def answered(status: int) -> Reason:
    """What an answer with HTTP `status` (not a 2xx) means for the operator."""
    meaning = STATUS_MEANINGS.get(status)
    if meaning is None:
        meaning = REDIRECTED if 300 <= status < 400 else CLIENT_ERROR
        meaning = SERVER_ERROR if status >= 500 else meaning
    return Reason(ANSWERED, status=status, meaning=Reason(meaning))


def _kind(error: requests.RequestException) -> str:
    causes = list(_chain(error))
    if isinstance(error, requests.exceptions.SSLError) or _any(causes, ssl.SSLError):
        return TLS
    if isinstance(error, requests.ConnectTimeout):
        return CONNECT_TIMED_OUT
    if isinstance(error, requests.ReadTimeout | http.DeadlineExceeded):
        return READ_TIMED_OUT
    if _any(causes, ConnectionRefusedError) or _errno(causes, errno.ECONNREFUSED):
        return REFUSED
    if _any(causes, socket.gaierror | NameResolutionError):
        return NOT_RESOLVED
    if _any(causes, ConnectionResetError | ConnectionAbortedError):
        return RESET
    if _errno(causes, errno.ECONNRESET):
        return RESET
    return OTHER


def _chain(error: BaseException, depth: int = 8):
    """`error` and what it wraps: its cause and context, urllib3's `reason`, and the
    exceptions among its arguments (requests wraps urllib3's MaxRetryError there)."""
    seen, todo = set(), [(error, 0)]
    while todo:
        current, level = todo.pop()
        if id(current) in seen or level > depth:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner += [arg for arg in current.args if isinstance(arg, BaseException)]
        todo += [(e, level + 1) for e in inner if isinstance(e, BaseException)]


def _any(causes: list[BaseException], kind) -> bool:
    return any(isinstance(cause, kind) for cause in causes)


def _errno(causes: list[BaseException], number: int) -> bool:
    return any(getattr(cause, "errno", None) == number for cause in causes)
