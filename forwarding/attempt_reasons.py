"""Why a POST to an endpoint failed, in the operator's words: the webhook's wording around
botadmin's one classification of failed requests (botadmin/http_failures.py).

`unanswered(error)` says that the endpoint gave no answer and why, in http_failures'
words ("127.0.0.1 refused the connection"), translated where it is shown, and keeps the
exception's own text as the reason's `detail` parameter, its secrets masked
(`botadmin.logging.error_text`: the path requests quotes may hold the receiver's token):
the msgid does not show it, the console offers it behind a "Technical details" disclosure
(`{{ text|reason_detail }}`).
`answered(status)` says what an HTTP status other than 2xx tells the operator.
"""

from __future__ import annotations

import requests
from django.utils.translation import gettext_noop

from botadmin import http, http_failures, reasons
from botadmin.logging import error_text
from botadmin.reasons import Reason

NO_ANSWER = gettext_noop("no answer from the endpoint: %(error)s")


def unanswered(error: requests.RequestException | http.UnknownHost, keep: int) -> Reason:
    """The Reason an attempt failed with `error` (a RequestException, or a host name that
    does not resolve); the exception's text, cut to `keep` characters, is its `detail`."""
    described = reasons.of(error)
    if isinstance(described, Reason):  # said in our words already (ResolveTimeout)
        return Reason(NO_ANSWER, error=described)
    detail = error_text(error)[:keep]  # a path's token or a query's key masked
    return Reason(NO_ANSWER, error=http_failures.failure_reason(error), detail=detail)


# What attempts recorded before forwarding used http_failures' words say after NO_ANSWER
# (their rows keep these msgids): the catalogue keeps translating them. Not rewritten by
# a data migration: the attempts table is one of the largest, the new words name the host
# these do not know, and the previous release goes on writing these while `migrate` runs.
EARLIER_WORDING = (
    gettext_noop("the connection was refused (nothing listens on that port)"),
    gettext_noop("the host name could not be resolved (DNS)"),
    gettext_noop("the connection timed out"),
    gettext_noop("no complete answer in time"),
    gettext_noop("the TLS (HTTPS) connection failed: certificate or handshake"),
    gettext_noop("the connection was closed before an answer"),
    gettext_noop("the connection failed"),
)


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
