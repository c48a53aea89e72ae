"""Why an AI bot's long connection failed, in words an operator reads.

The gateway's reconnect loop (`aibot_session.BotSession.run`) catches what connecting
and reading raised: a failed lookup (`socket.gaierror: [Errno -2] Name or service not
known`), a refused or reset TCP connection, a TLS failure, an HTTP answer to the
WebSocket handshake. Shown as they are, these are Python's words in English on the
operator's dashboard. `connection_failure` says which step failed in our words (a
Reason, translated where it is shown), naming the long-connection host (a setting, not a
secret) and nothing of the exception's own text, which goes to the gateway's log.
"""

from __future__ import annotations

import errno
import socket
import ssl
from urllib.parse import urlsplit

import websockets
from django.utils.translation import gettext_noop

from botadmin import dns, reasons
from botadmin.reasons import Reason

NO_SUCH_HOST = gettext_noop("cannot resolve the WeCom server's host name %(host)s")
DNS_LATER = gettext_noop(
    "the DNS lookup of the WeCom server's host name %(host)s got no answer for now"
)
REFUSED = gettext_noop("the WeCom server %(host)s refused the connection")
UNREACHABLE = gettext_noop("no network route to the WeCom server %(host)s")
RESET = gettext_noop("the connection to the WeCom server %(host)s was cut")
TIMED_OUT = gettext_noop("the WeCom server %(host)s did not answer in time")
CERTIFICATE = gettext_noop("the WeCom server %(host)s sent a certificate that cannot be trusted")
TLS = gettext_noop("the secure (TLS) connection to the WeCom server %(host)s failed")
HTTP_STATUS = gettext_noop(
    "the WeCom server %(host)s answered the connection with HTTP status %(status)s"
)
HANDSHAKE = gettext_noop("the WeCom server %(host)s did not accept the long connection")
CLOSED = gettext_noop("the connection to the WeCom server %(host)s closed unexpectedly")
BAD_URL = gettext_noop("the long-connection address is not a valid WebSocket URL")
NETWORK = gettext_noop("a network error cut the connection to the WeCom server %(host)s")
UNEXPECTED = gettext_noop("the gateway failed unexpectedly (its log has the details)")
_UNREACHABLE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN})
_RESET_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})


def host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


def connection_failure(error: BaseException, url: str) -> Reason:
    """What `error`, raised while connecting to `url` or reading from it, means to an
    operator: one of the reasons above."""
    ours = reasons.of(error)
    if isinstance(ours, Reason):  # raised with our words already (no ack, WeCom busy)
        return ours
    host = host_of(url)
    if isinstance(error, socket.gaierror):
        later = dns.try_again_later(error)
        return Reason(DNS_LATER if later else NO_SUCH_HOST, host=host)
    if isinstance(error, ssl.SSLCertVerificationError):
        return Reason(CERTIFICATE, host=host)
    if isinstance(error, ssl.SSLError):
        return Reason(TLS, host=host)
    if isinstance(error, ConnectionRefusedError):
        return Reason(REFUSED, host=host)
    if isinstance(error, TimeoutError):
        return Reason(TIMED_OUT, host=host)
    if isinstance(error, websockets.InvalidURI):
        return Reason(BAD_URL)
    if isinstance(error, websockets.InvalidStatus):
        return Reason(HTTP_STATUS, host=host, status=str(error.response.status_code))
    if isinstance(error, websockets.ConnectionClosed):
        return Reason(CLOSED, host=host)
    if isinstance(error, websockets.InvalidHandshake):
        return Reason(HANDSHAKE, host=host)
    if isinstance(error, OSError):
        if error.errno in _UNREACHABLE_ERRNOS:
            return Reason(UNREACHABLE, host=host)
        if error.errno in _RESET_ERRNOS or isinstance(error, ConnectionError):
            return Reason(RESET, host=host)
        return Reason(NETWORK, host=host)
    return Reason(UNEXPECTED)
