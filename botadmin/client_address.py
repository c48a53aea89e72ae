"""The address a request came from, also behind reverse proxies.

A proxy in front of botadmin (nginx on the same host, docs/install.md) connects
from its own address and names whom it serves in `X-Forwarded-For`, appending the
address it was connected from to whatever the client sent there. So the header is
believed only when the connection came from a proxy in BOTADMIN_TRUSTED_PROXIES, and
only from its end: each address a trusted proxy appended is taken in turn until one
that is not a trusted proxy, the client; what stands left of it is the client's own
word. The access log (`botadmin.logging`) and the login throttle (`console/login.py`)
name the client so.

`X-Forwarded-Proto` is believed from the same proxies only, and of several values (a
proxy that appends to it as to X-Forwarded-For, after what the client sent) only the
last, which the nearest proxy wrote: `forwarded_proto`, which Django reads through
`botadmin.middleware.ForwardedProtoMiddleware` (Django itself would take the first).
gunicorn (`botadmin/gunicorn_conf.py`: forwarded_allow_ips, secure_scheme_headers)
believes this header alone (not X-Forwarded-Ssl or X-Forwarded-Protocol), from the same
proxies, when it is exactly `https`, and takes anything else for http (two header lines
that disagree it answers with 400), so its `wsgi.url_scheme`, which Django reads when the
header is not believed, never says more than this rule does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from .networks import setting_networks


def client_address(meta: Mapping[str, str]) -> str:
    """The client's address, from a WSGI environ or a Django request's META."""
    address = meta.get("REMOTE_ADDR") or ""
    hops = (meta.get("HTTP_X_FORWARDED_FOR") or "").split(",")
    while hops and _trusted(address):
        hop = hops.pop().strip()
        if _parsed(hop) is None:  # not an address a proxy writes: nothing more to believe
            break
        address = hop
    return address


def from_trusted_proxy(meta: Mapping[str, str]) -> bool:
    """Whether the connection came from a proxy in BOTADMIN_TRUSTED_PROXIES (or a Unix
    socket), whose forwarded headers are believed."""
    return _trusted(meta.get("REMOTE_ADDR") or "")


def forwarded_proto(meta: Mapping[str, str], key: str = "HTTP_X_FORWARDED_PROTO") -> str | None:
    """The scheme the nearest trusted proxy says the request came by (the last value of
    its `X-Forwarded-Proto`, META's `key`); None from a peer that is no trusted proxy, or
    when the header is missing or ends in an empty value."""
    if not from_trusted_proxy(meta):
        return None
    last = (meta.get(key) or "").rpartition(",")[2].strip()
    return last or None


def _trusted(address: str) -> bool:
    if not address:  # a Unix socket, which only this host can reach (as gunicorn sees it)
        return True
    parsed = _parsed(address)
    if parsed is None:
        return False
    networks = setting_networks("BOTADMIN_TRUSTED_PROXIES")
    return any(parsed in network for network in networks if network.version == parsed.version)


def _parsed(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d.
    return getattr(address, "ipv4_mapped", None) or address
