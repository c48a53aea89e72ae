"""Settings that list networks as CIDRs, parsed one way.

BOTADMIN_TRUSTED_PROXIES (whose forwarded headers are believed), BOTADMIN_AGENT_NETWORKS
(where agents may be), BOTADMIN_OUTBOUND_PROXY_NETWORKS (where bots' outbound proxies
may be) and BOTADMIN_WEBHOOK_NETWORKS (the private networks webhook endpoints may be in)
are comma-separated CIDRs; a bare address is its own /32 or /128, and
host bits are ignored (10.0.3.7/24 is 10.0.3.0/24). A value is parsed once and kept by
the value itself, so a request reading a setting costs a dictionary lookup, and a test
that overrides the setting gets its new value parsed. A value that is no CIDR is a
ValueError here, and a system check at start-up (botadmin/checks.py).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """`cidrs` as networks, blank entries left out; ValueError for one that is none."""
    return _parsed(tuple(cidrs))


@functools.lru_cache(maxsize=64)
def _parsed(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip())


def setting_networks(name: str) -> tuple[Network, ...]:
    """The networks setting `name` lists (one of SETTINGS), as it is now."""
    return parse_networks(getattr(settings, name))
