"""Why an AI bot's long connection failed, in words an operator reads.

The gateway's reconnect loop (`aibot_session.BotSession.run`) catches what connecting
and reading raised: a failed lookup (`socket.gaierror: [Errno -2] Name or service not
known`), a refused or reset TCP connection, a TLS failure, an HTTP answer to the
WebSocket handshake. Shown as they are, these are Python's words in English on the
operator's dashboard. `connection_failure` says which step failed in our words (a
Reason, translated where it is shown), naming the long-connection host (a setting, not a
secret) and nothing of the exception's own text, which goes to the gateway's log. The
network's failures are worded as every outbound request's are
(`botadmin.http_failures.network_failure`); the WebSocket's own here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import websockets
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.http_failures import network_failure
from botadmin.reasons import Reason

HTTP_STATUS = gettext_noop(
    "the WeCom server %(host)s answered the connection with HTTP status %(status)s"
)
HANDSHAKE = gettext_noop("the WeCom server %(host)s did not accept the long connection")
CLOSED = gettext_noop("the connection to the WeCom server %(host)s closed unexpectedly")
BAD_URL = gettext_noop("the long-connection address is not a valid WebSocket URL")
NETWORK = gettext_noop("a network error cut the connection to the WeCom server %(host)s")
UNEXPECTED = gettext_noop("the gateway failed unexpectedly (its log has the details)")


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
    if isinstance(error, websockets.InvalidURI):
        return Reason(BAD_URL)
    if isinstance(error, websockets.InvalidStatus):
        return Reason(HTTP_STATUS, host=host, status=str(error.response.status_code))
    if isinstance(error, websockets.ConnectionClosed):
        return Reason(CLOSED, host=host)
    if isinstance(error, websockets.InvalidHandshake):
        return Reason(HANDSHAKE, host=host)
    if isinstance(error, OSError):
        return network_failure(error, host) or Reason(NETWORK, host=host)
    return Reason(UNEXPECTED)
