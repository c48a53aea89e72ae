"""Why an outbound request failed, in words an operator reads.

requests and urllib3 wrap the system's words in their own: a failed lookup reads
`_BoundedHTTPSPool(host='x.example', port=443): Max retries exceeded with url: /logo.png
(Caused by NameResolutionError(...))`, our pool class, the URL's path and a repr, which a
message's last error would show as they are. `failure_reason` says which step failed in
our words (a Reason, translated where it is shown) with the resolver's, the system's or
the TLS library's own words as a parameter, verbatim.

A lookup fails alike whoever made it: the URL check (`http.check_url`: UnknownHost,
ResolveTimeout) or urllib3 itself when nothing is checked (private addresses allowed and
no networks), whose failure comes as a ConnectionError; `unknown_host` tells both apart
from the rest the same way (`dns.no_such_name`).

What the system said (a lookup's getaddrinfo error, a refused or cut connection, a TLS
failure) is worded by `network_failure` in our words, naming the host: the one
classification of a failed connection, for a request here and for the AI bot gateway's
long connection alike (connectors/aibot_failures.py). Words it has no wording for are
kept verbatim as a parameter (`connection failed: …`).
"""

from __future__ import annotations

import errno
import socket
import ssl
from urllib.parse import urlsplit

import requests
from django.utils.translation import gettext_noop
from urllib3.exceptions import NameResolutionError, ProxyError

from . import dns
from .http import UnknownHost, unresolved
from .reasons import Reason

# Exceptions of these packages wrap the words worth showing; theirs are not.
_WRAPPERS = ("urllib3", "requests", "botadmin")

REFUSED = gettext_noop("%(host)s refused the connection")
NO_ROUTE = gettext_noop("no network route to %(host)s")
CUT = gettext_noop("the connection to %(host)s was cut")
NO_ANSWER_IN_TIME = gettext_noop("%(host)s did not answer in time")
UNTRUSTED_CERTIFICATE = gettext_noop("%(host)s sent a certificate that cannot be trusted")
TLS_FAILED = gettext_noop("the secure (TLS) connection to %(host)s failed")
_NO_ROUTE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN})
_CUT_ERRNOS = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})


def network_failure(error: BaseException, host: str) -> Reason | None:
    """What the system's `error` on a connection to `host` means, in our words; None for
    an error this has no words for (the caller keeps the system's, or its own)."""
    if isinstance(error, socket.gaierror):
        return unresolved(host, error)
    if isinstance(error, ssl.SSLCertVerificationError):
        return Reason(UNTRUSTED_CERTIFICATE, host=host)
    if isinstance(error, ssl.SSLError):
        return Reason(TLS_FAILED, host=host)
    if isinstance(error, ConnectionRefusedError):
        return Reason(REFUSED, host=host)
    if isinstance(error, TimeoutError):
        return Reason(NO_ANSWER_IN_TIME, host=host)
    if isinstance(error, OSError):
        if error.errno in _NO_ROUTE_ERRNOS:
            return Reason(NO_ROUTE, host=host)
        if error.errno in _CUT_ERRNOS or isinstance(error, ConnectionError):
            return Reason(CUT, host=host)
    return None


def unknown_host(error: BaseException) -> str | None:
    """The host name `error` says does not exist, or None for any other failure."""
    if isinstance(error, UnknownHost):
        return error.host
    lookup = _failed_lookup(error)
    if lookup is not None and dns.no_such_name(_resolver_error(lookup)):
        return _host(lookup)
    return None


def failure_reason(error: requests.RequestException | UnknownHost) -> str:
    """Which step of the request failed, in words (`network_failure`), or with the system's
    own as a parameter where there are none."""
    first = error.args[0] if error.args else None
    if isinstance(first, Reason):  # ours already (ResolveTimeout, UnknownHost)
        return first
    lookup = _failed_lookup(error)
    if lookup is not None:
        return unresolved(_host(lookup), _resolver_error(lookup))
    if isinstance(error, requests.ConnectTimeout):
        return Reason(gettext_noop("connect timed out"))
    if isinstance(error, requests.ReadTimeout):
        return Reason(gettext_noop("read timed out"))
    system = _system_error(error)
    host = _request_host(error)
    if system is not None and host and (ours := network_failure(system, host)):
        return ours
    words = str(system) if system is not None else type(error).__name__
    if isinstance(error, requests.exceptions.SSLError):
        return Reason(gettext_noop("TLS failed: %(error)s"), error=words)
    if isinstance(error, requests.ConnectionError):
        return Reason(gettext_noop("connection failed: %(error)s"), error=words)
    return Reason(gettext_noop("request failed: %(error)s"), error=words)


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and what it wraps, outermost first: requests wraps urllib3's MaxRetryError,
    which wraps the connection's error, which wraps the system's."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and not any(current is seen for seen in chain):
        chain.append(current)
        inner = (current.__cause__, getattr(current, "reason", None), *reversed(current.args))
        current = next((e for e in inner if isinstance(e, BaseException)), None)
    return chain


def _failed_lookup(error: BaseException) -> NameResolutionError | None:
    return next((e for e in _chain(error) if isinstance(e, NameResolutionError)), None)


# urllib3 keeps the name and getaddrinfo's error (for pickling) in these.
def _host(lookup: NameResolutionError) -> str:
    return getattr(lookup, "_host", "") or "?"


def _resolver_error(lookup: NameResolutionError) -> BaseException:
    return getattr(lookup, "_reason", None) or lookup.__cause__ or lookup


def _system_error(error: BaseException) -> BaseException | None:
    """The innermost error not a wrapper's (`[Errno 111] Connection refused`, a TLS
    library's) that has words, or None."""
    for inner in reversed(_chain(error)):
        if type(inner).__module__.split(".")[0] not in _WRAPPERS and str(inner):
            return inner
    return None


def _request_host(error: BaseException) -> str:
    """The host the failed connection went to: the proxy's when the failure was the
    proxy's (urllib3's ProxyError), else the connection's, else the request URL's."""
    chain = _chain(error)
    pool = next((getattr(e, "pool", None) for e in chain if getattr(e, "pool", None)), None)
    proxy = getattr(pool, "proxy", None)
    if proxy is not None and any(isinstance(e, ProxyError) for e in chain):
        return getattr(proxy, "host", "") or ""
    for inner in reversed(chain):
        connection = getattr(inner, "conn", None) or getattr(inner, "pool", None)
        host = getattr(connection, "host", None)
        if isinstance(host, str) and host:
            return host
    request = getattr(error, "request", None)
    try:
        return urlsplit(getattr(request, "url", "") or "").hostname or ""
    except ValueError:
        return ""
