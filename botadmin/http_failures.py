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
"""

from __future__ import annotations

import requests
from django.utils.translation import gettext_noop
from urllib3.exceptions import NameResolutionError

from . import dns
from .http import UNRESOLVED, UnknownHost
from .reasons import Reason

# Exceptions of these packages wrap the words worth showing; theirs are not.
_WRAPPERS = ("urllib3", "requests", "botadmin")


def unknown_host(error: BaseException) -> str | None:
    """The host name `error` says does not exist, or None for any other failure."""
    if isinstance(error, UnknownHost):
        return error.host
    lookup = _failed_lookup(error)
    if lookup is not None and dns.no_such_name(_resolver_error(lookup)):
        return _host(lookup)
    return None


def failure_reason(error: requests.RequestException) -> str:
    """Which step of the request failed, in words, with the system's own as a parameter."""
    first = error.args[0] if error.args else None
    if isinstance(first, Reason):  # ours already (ResolveTimeout)
        return first
    lookup = _failed_lookup(error)
    if lookup is not None:
        return Reason(UNRESOLVED, host=_host(lookup), error=str(_resolver_error(lookup)))
    if isinstance(error, requests.ConnectTimeout):
        return Reason(gettext_noop("connect timed out"))
    if isinstance(error, requests.ReadTimeout):
        return Reason(gettext_noop("read timed out"))
    words = _system_words(error)
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


def _system_words(error: BaseException) -> str:
    """The innermost words not a wrapper's (`[Errno 111] Connection refused`, a TLS
    library's), else the requests exception's class name."""
    for inner in reversed(_chain(error)):
        if type(inner).__module__.split(".")[0] not in _WRAPPERS and str(inner):
            return str(inner)
    return type(error).__name__
