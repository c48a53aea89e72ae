"""Login throttling, for the console's and the admin's login forms.

Wrong passwords are counted per user name *from one client* and per client: after
BOTADMIN_LOGIN_FAILURE_LIMIT of them for one user name from one address (or three
times as many from one address for any names, which an office behind one NAT shares)
within BOTADMIN_LOGIN_LOCKOUT_MINUTES, that pair, or that address, may not log in
until BOTADMIN_LOGIN_LOCKOUT_MINUTES have passed, even with the right password; the
form says how long and until when. A user name is never locked for everyone: a
stranger guessing it from elsewhere cannot lock its owner out.

The client is the address `botadmin.client_address` names (behind a trusted proxy, the
one it saw, so a client cannot pick its own), and an IPv6 client is its /64: one
host gets a whole /64 and can change its address within it at will. The counts live
in the shared cache, so every web process sees them; while the cache is unreachable
nothing is counted or throttled, and the right password logs in
(`botadmin.cache.best_effort`). A successful log-in clears its user name's count
from that client.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import ngettext

from botadmin.cache import best_effort
from botadmin.client_address import client_address as address_of
from botadmin.forms import NoLabelSuffix

ADDRESS_LIMIT_FACTOR = 3
# The IPv6 network counted as one client: what one subscriber or host is given.
IPV6_CLIENT_PREFIX = 64


def client_address(request: HttpRequest | None) -> str:
    """The caller's address; behind a trusted proxy, the one it names
    (botadmin/client_address.py): a client cannot pick its own."""
    return "" if request is None else address_of(request.META)


def client_key(address: str) -> str:
    """What the throttle counts as one client: an IPv4 address, an IPv6 address's /64
    (an IPv4-mapped one as IPv4), or the text itself when it is no address ("" for a
    Unix socket)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    parsed = getattr(parsed, "ipv4_mapped", None) or parsed
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(parsed)


def _counters(request: HttpRequest | None, username: str) -> list[tuple[str, int]]:
    """(cache key, failure limit) for the user name from this client, and for the client."""
    limit = settings.BOTADMIN_LOGIN_FAILURE_LIMIT
    client = client_key(client_address(request))
    pair = hashlib.sha256(f"{client} {username.casefold()}".encode()).hexdigest()[:32]
    keys = [(f"login-failures:user-client:{pair}", limit)]
    if client:
        keys.append((f"login-failures:client:{client}", limit * ADDRESS_LIMIT_FACTOR))
    return keys


def locked_until(request: HttpRequest | None, username: str) -> float | None:
    """Unix time until which this user name from this client, or this client, may not
    log in, or None."""
    if settings.BOTADMIN_LOGIN_FAILURE_LIMIT <= 0:
        return None
    locks = best_effort.get_many([f"{key}:locked" for key, _ in _counters(request, username)])
    until = max(locks.values(), default=None)
    return until if until is not None and until > time.time() else None


def note_failure(request: HttpRequest | None, username: str) -> None:
    if settings.BOTADMIN_LOGIN_FAILURE_LIMIT > 0:
        best_effort.attempt(_count_failure, request, username)


def _count_failure(request: HttpRequest | None, username: str) -> None:
    lockout = settings.BOTADMIN_LOGIN_LOCKOUT_MINUTES * 60
    for key, limit in _counters(request, username):
        cache.add(key, 0, timeout=lockout)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired in between
            failures = 1 if cache.add(key, 1, timeout=lockout) else cache.incr(key)
        if failures >= limit:
            cache.add(f"{key}:locked", time.time() + lockout, timeout=lockout)
            cache.delete(key)


def note_success(request: HttpRequest | None, username: str) -> None:
    best_effort.delete(_counters(request, username)[0][0])


def throttled_message(until: float) -> str:
    minutes = max(1, math.ceil((until - time.time()) / 60))
    at = time_format(timezone.localtime(datetime.fromtimestamp(until, tz=UTC)), "H:i")
    return ngettext(
        "Too many failed log-ins from your network address. "
        "Log-in is locked for %(minutes)d more minute: try again after %(time)s.",
        "Too many failed log-ins from your network address. "
        "Log-in is locked for %(minutes)d more minutes: try again after %(time)s.",
        minutes,
    ) % {"minutes": minutes, "time": at}


class ThrottledLogin:
    """Refuses a throttled user name or address before checking the password."""

    throttled_message: str | None = None

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        until = locked_until(self.request, username)
        if until is None:
            try:
                cleaned = super().clean()
            except ValidationError:
                note_failure(self.request, username)
                until = locked_until(self.request, username)
                if until is None:
                    raise
            else:
                note_success(self.request, username)
                return cleaned
        self.throttled_message = throttled_message(until)
        raise ValidationError(self.throttled_message, code="throttled")


class ThrottledAuthenticationForm(NoLabelSuffix, ThrottledLogin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLogin, AdminAuthenticationForm):
    pass
