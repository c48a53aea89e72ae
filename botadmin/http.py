"""The one way botadmin makes outbound HTTP requests.

Webhook deliveries, connector calls and image downloads all go through
`request()`, which:

* allows only http and https;
* refuses hosts that resolve to loopback, private, link-local (cloud metadata
  such as 169.254.169.254), multicast or reserved addresses (whatever IANA's
  special-purpose registries say is not globally reachable, and the deprecated
  site-local fec0::/10), also when written inside an IPv6 address (IPv4-compatible,
  IPv4-mapped, NAT64, 6to4, Teredo), unless BOTADMIN_ALLOW_PRIVATE_URLS is on or the
  caller passes allow_private=True; a webhook
  (`webhook=True`) may also be in BOTADMIN_WEBHOOK_NETWORKS, and only there of the
  private addresses; a bridge agent (`agent=True`, a URL a bot admin sets on purpose,
  usually inside the company's network) may be at any private address, or only in
  BOTADMIN_AGENT_NETWORKS when that is set; neither is ever at a link-local (the
  cloud metadata service) or unspecified address, whatever those settings list;
* never follows redirects blindly: each hop is checked like the first, and
  only when the caller asks for redirects at all;
* uses explicit connect and read timeouts, and reads at most `max_bytes`;
  with `deadline`, the whole exchange also ends by then: a read timeout bounds
  each wait for the next bytes, so an answer that keeps crawling in a line at a
  time would otherwise hold the caller as long as it likes;
* raises errors whose text names the URL without the secrets in its query
  string (a robot's `key`, an app's `corpsecret` or `access_token`).

Tests and the demo turn private addresses on, because their fakes listen on
127.0.0.1. The host is looked up once, by `check_url`, and the connection goes to
the addresses it approved, in their order: urllib3 would look the host up again, and
that answer could differ (DNS rebinding: public for the check, 127.0.0.1 or
169.254.169.254 for the connection) and would wait as long as the resolver likes. The
URL's host still names the server in the Host header, TLS SNI and the certificate
check. The lookup ends within BOTADMIN_DNS_TIMEOUT (`botadmin.dns`): past it, or when
the resolver gives up for now, ResolveTimeout, a ConnectTimeout, which callers retry as
any request that never left; a name that does not exist, UnknownHost, an UnsafeURLError
(asking again will not help). With private addresses allowed and no `networks` (dev
mode) a URL's host is not checked, so it is not looked up beforehand: urllib3 resolves as
usual (a proxy is, see below), and its lookup's failure comes as a ConnectionError
(`http_failures` words both alike).

An internationalised host name is written in ASCII once, by `check_url` (IDNA 2008 with
UTS #46's mapping, as browsers and requests write it), and the request goes out under
that name: Python's resolver would otherwise encode it by IDNA 2003 (`straße` looked up
as `strasse`, while the Host header and SNI say `xn--strae-oqa`), so the name approved
would not be the name connected to. A name that cannot be written so is refused.

Through a `proxy` (a bot's outbound proxy) the connection goes to the proxy, which is
told the host by name (`CONNECT host:443`, or the absolute URL of a plain-http request)
and resolves it itself. So the host is not looked up here: an approval of addresses
nothing here connects to would check nothing, and a host that reaches the outside
through a proxy often has no outside DNS. What the proxy may reach is its own rule
(docs/bots.md, "Outbound proxy"); `networks` cannot be kept through
one. The proxy itself is what is checked and connected to, as a URL's host is: http or
https, at an address in BOTADMIN_OUTBOUND_PROXY_NETWORKS when that is set, else at a
public one (any with BOTADMIN_ALLOW_PRIVATE_URLS on; `check_proxy_url`), and always
looked up within BOTADMIN_DNS_TIMEOUT and connected to at the addresses approved, dev
mode included: a proxy's name is looked up once per request, by us. An https:// proxy is
spoken to in TLS under its URL's name whatever the URL's scheme (for https, TLS inside
that TLS), and its certificate is checked against the system's CA certificates and
certifi's (`_proxy_tls`): requests would check it for an https URL only, against certifi
alone. Proxies named in the environment (HTTPS_PROXY and the like) are ignored.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import os
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import idna
import requests
import requests.certs
from django.conf import settings
from django.utils.translation import gettext_noop
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import ProxyManager
from urllib3.util import connection
from urllib3.util.ssl_ import create_urllib3_context
from urllib3.util.ssltransport import SSLTransport

from . import answer_text, dns, jsontext, reasons
from .logging import mask_path, mask_secrets
from .networks import Network, parse_networks, setting_networks
from .reasons import Reason

USER_AGENT = "botadmin/1"
_local = threading.local()


class UnsafeURLError(ValueError):
    """The URL may not be requested (scheme, or a private/unresolvable host).

    Raised with a `botadmin.reasons.Reason` (its text is the English): a caller that
    stores or shows why keeps it with `reasons.of(error)`, so it reads in the
    operator's language."""


class UnknownHost(UnsafeURLError):
    """The URL's host name does not exist (`dns.no_such_name`): asking again will not
    help. `host`: the name as the URL writes it."""

    def __init__(self, reason: Reason, host: str = ""):
        super().__init__(reason)
        self.host = host


class ResolveTimeout(requests.ConnectTimeout):
    """The URL's host was not resolved within BOTADMIN_DNS_TIMEOUT, or the resolver gave
    up for now (EAI_AGAIN: its name servers did not answer in its own time): nothing was
    sent, so it may be tried again later. Raised with a `botadmin.reasons.Reason`, as
    UnsafeURLError is."""


@dataclass
class HttpResponse:
    status: int
    # Header names are case-insensitive (HTTP/2 proxies send them in lower case).
    headers: Mapping[str, str]
    content: bytes
    truncated: bool
    elapsed_ms: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body for people and logs, decoded by the charset its Content-Type declares,
        else by a page's `<meta charset>` (UTF-8 when none or an unknown one):
        undecodable bytes and NUL (which PostgreSQL refuses in text) become U+FFFD, so a
        binary answer can be stored. A body cut at `max_bytes` loses the character the
        cut split, rather than ending in U+FFFD."""
        content_type = self.headers.get("Content-Type") or ""
        return answer_text.decoded(self.content, content_type, complete=not self.truncated)

    def excerpt(self, limit: int) -> str:
        """The body's start as an operator or a log reads it (a reason, an error's detail),
        its secrets masked: a proxy's or a gateway's error page names the URL it could not
        fetch, `?access_token=…`, `?key=…` or `&corpsecret=…` included."""
        return mask_secrets(self.text[:limit])

    def json(self):
        """The body as JSON (`jsontext.loads`): ValueError when it is not JSON, or names a
        key twice (DuplicateKey, saying where). `{"errcode":0,"errcode":1}` is not read as
        its last errcode: readers differ on which of two they take, so the answer says
        nothing for sure, as one that is not JSON says nothing."""
        return jsontext.loads(self.content, unique_keys=True)


def proxy_networks() -> tuple[Network, ...]:
    """BOTADMIN_OUTBOUND_PROXY_NETWORKS: where bots' outbound proxies may be (empty: at
    public addresses only, unless BOTADMIN_ALLOW_PRIVATE_URLS is on)."""
    return setting_networks("BOTADMIN_OUTBOUND_PROXY_NETWORKS")


def webhook_networks() -> tuple[Network, ...]:
    """BOTADMIN_WEBHOOK_NETWORKS: the private networks webhook endpoints may be in, beside
    public addresses (empty: none)."""
    return setting_networks("BOTADMIN_WEBHOOK_NETWORKS")


def agent_networks() -> tuple[Network, ...]:
    """BOTADMIN_AGENT_NETWORKS: where bridge agents may be (empty: at any address but a
    link-local or unspecified one)."""
    return setting_networks("BOTADMIN_AGENT_NETWORKS")


# Never a webhook receiver's or an agent's address, whatever BOTADMIN_WEBHOOK_NETWORKS or
# BOTADMIN_AGENT_NETWORKS list: the cloud metadata service (169.254.169.254, handing out
# credentials) and other link-local neighbours, and the unspecified address (which
# connects to this very host). Bot admins set both URLs, and see something of the answers.
_NEVER_REACHED = parse_networks(("169.254.0.0/16", "0.0.0.0/32", "fe80::/10", "::/128"))
# Every address: agents may be at private ones (but those above) unless networks are set.
_EVERYWHERE = parse_networks(("0.0.0.0/0", "::/0"))
# The widest network a webhook setting may list: 10.0.0.0/8 and fc00::/7 (every unique
# local address) are the widest private ones; wider takes in much more than receivers.
_WIDEST_WEBHOOK_PREFIX = {4: 8, 6: 7}


def _never_reached(address) -> bool:
    """`address` (or an IPv4 address inside it) is one no webhook or agent may be at."""
    return any(not _outside(inner, _NEVER_REACHED) for inner in (address, *_embedded_ipv4(address)))


def webhook_network_problem(network: Network) -> str | None:
    """Why BOTADMIN_WEBHOOK_NETWORKS may not list `network`, or None when it may."""
    if network.prefixlen < _WIDEST_WEBHOOK_PREFIX[network.version]:
        widest = _WIDEST_WEBHOOK_PREFIX[network.version]
        return f"{network} is wider than /{widest}"
    for never in _NEVER_REACHED:
        for form in (never, *_ipv6_forms(never)):
            if form.version == network.version and form.overlaps(network):
                return f"{network} overlaps {form}, which webhooks may never reach"
    return None


def _ipv6_forms(network: Network) -> list[Network]:
    """The IPv6 networks that carry the IPv4 `network` (`_embedded_ipv4`'s forms but
    Teredo's, whose obfuscated client address no single network holds)."""
    if network.version == 6:
        return []
    bits = 32 - network.prefixlen
    base = int(network.network_address)
    return [
        ipaddress.ip_network((prefix | base, 128 - bits))
        for prefix in (0, 0xFFFF << 32, int(_NAT64.network_address))
    ] + [ipaddress.ip_network(((0x2002 << 112) | (base << 80), 48 - bits))]


def _outside(address, networks: tuple[Network, ...]) -> bool:
    return not any(address in network for network in networks if network.version == address.version)


def check_url(
    url: str,
    *,
    allow_private: bool | None = None,
    networks: tuple[Network, ...] = (),
    webhook: bool = False,
    agent: bool = False,
) -> list[tuple]:
    """Raise UnsafeURLError unless `url` may be requested, ResolveTimeout when its host's
    address is not known in time.

    With `networks`, the host must resolve into them (private or not) and nowhere else.
    `webhook`: the URL of a webhook endpoint, which may also resolve into
    BOTADMIN_WEBHOOK_NETWORKS (a refusal names that setting); `agent`: a bridge agent's,
    which may resolve to private addresses, or only into BOTADMIN_AGENT_NETWORKS when that
    is set. Neither may resolve to a link-local or unspecified address.
    Returns the addresses approved (`socket.getaddrinfo`'s answers), which a request
    connects to; none when private addresses are allowed and no networks given, as
    nothing is looked up then.
    """
    rule = {"networks": networks, **_rule(webhook=webhook, agent=agent)}
    return _checked(url, allow_private=allow_private, **rule)[1]


UNRESOLVED = gettext_noop("cannot resolve %(host)s: %(error)s")
# A name the resolver says does not exist: said without the resolver's English words,
# which add nothing ("Name or service not known"). Offline, a name that does exist
# reads so too: the words say what failed, not that the name is wrong.
NO_SUCH_NAME = gettext_noop("cannot resolve %(host)s")
NO_ANSWER_FOR_NOW = gettext_noop("cannot resolve %(host)s for now: the DNS server gave no answer")


def unresolved(host: str, error: BaseException) -> Reason:
    """Why `host` was not looked up, from getaddrinfo's error, in words: the one wording
    of a failed lookup, whoever looked it up (`check_url`, urllib3, the AI bot gateway)."""
    if dns.no_such_name(error):
        return Reason(NO_SUCH_NAME, host=host)
    if dns.try_again_later(error):
        return Reason(NO_ANSWER_FOR_NOW, host=host)
    return Reason(UNRESOLVED, host=host, error=str(error))


_PRIVATE_URL = gettext_noop(
    "%(host)s resolves to %(address)s, a private or reserved address "
    "(set BOTADMIN_ALLOW_PRIVATE_URLS to allow it)"
)
_PRIVATE_WEBHOOK = gettext_noop(
    "%(host)s resolves to %(address)s, a private or reserved address "
    "(add its network to BOTADMIN_WEBHOOK_NETWORKS to allow it)"
)
_NEVER_WEBHOOK_URL = gettext_noop(
    "%(host)s resolves to %(address)s, a link-local or unspecified address, "
    "which no webhook may reach"
)
_NEVER_AGENT_URL = gettext_noop(
    "%(host)s resolves to %(address)s, a link-local or unspecified address, where no agent may be"
)
_PRIVATE_PROXY = gettext_noop(
    "%(host)s resolves to %(address)s, a private or reserved address "
    "(set BOTADMIN_OUTBOUND_PROXY_NETWORKS to allow it)"
)


def _rule(*, webhook: bool, agent: bool) -> dict:
    """`_checked`'s arguments for a webhook endpoint's URL or an agent's (none for any
    other). An agent's is looked up and checked also where a private address would not
    be refused (BOTADMIN_ALLOW_PRIVATE_URLS off, no networks), for a link-local one."""
    if webhook:
        return {
            "exempt": webhook_networks(),
            "private": _PRIVATE_WEBHOOK,
            "never": _NEVER_WEBHOOK_URL,
        }
    if agent:
        return {"networks": agent_networks(), "exempt": _EVERYWHERE, "never": _NEVER_AGENT_URL}
    return {}


def check_proxy_url(proxy: str) -> list[tuple]:
    """Raise UnsafeURLError unless requests may go through the forward proxy at `proxy`,
    ResolveTimeout when its host's address is not known in time.

    The proxy is http or https, and resolves into BOTADMIN_OUTBOUND_PROXY_NETWORKS when
    that is set, else to public addresses (any with BOTADMIN_ALLOW_PRIVATE_URLS on).
    Returns the addresses approved, which the connection to the proxy goes to: its name
    is looked up even when nothing is refused, as urllib3 would look it up without a
    time bound."""
    return _checked_proxy(proxy, proxy_networks())[1]


def _checked_proxy(proxy: str, networks: tuple[Network, ...]) -> tuple[str, list[tuple]]:
    """`check_proxy_url` with the proxy networks as they were read for this request."""
    return _checked(
        proxy, allow_private=None, networks=networks, private=_PRIVATE_PROXY, always_resolve=True
    )


def _checked(
    url: str,
    *,
    allow_private: bool | None,
    networks: tuple[Network, ...],
    exempt: tuple[Network, ...] = (),
    private: str = _PRIVATE_URL,
    always_resolve: bool = False,
    never: str | None = None,
) -> tuple[str, list[tuple]]:
    """`check_url`, also returning the URL as it is requested: its host in ASCII, the
    name that was looked up. `exempt`: private networks allowed all the same;
    `private`: the words for a private address refused; `always_resolve`: look the host
    up (within the time bound) also when nothing is refused, for the connection to go to
    the answer; `never`: the words for a link-local or unspecified address, refused
    whenever the host is looked up, `exempt` or in `networks` or not."""
    if allow_private is None:
        allow_private = settings.BOTADMIN_ALLOW_PRIVATE_URLS
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        only = gettext_noop("only http and https URLs are allowed, not %(scheme)s")
        raise UnsafeURLError(Reason(only, scheme=repr(parts.scheme or "none")))
    if not parts.hostname:
        raise UnsafeURLError(Reason(gettext_noop("the URL has no host")))
    host = _ascii_host(parts.hostname)
    if host != parts.hostname:
        url = _with_host(parts, host)
    if allow_private and not networks and not always_resolve:
        return url, []
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = dns.lookup(host, port, settings.BOTADMIN_DNS_TIMEOUT)
    except dns.TimedOut:
        slow = gettext_noop("cannot resolve %(host)s within %(seconds)s s")
        seconds = f"{settings.BOTADMIN_DNS_TIMEOUT:g}"
        raise ResolveTimeout(Reason(slow, host=parts.hostname, seconds=seconds)) from None
    except (socket.gaierror, UnicodeError, ValueError) as error:
        reason = unresolved(parts.hostname, error)
        if dns.try_again_later(error):
            raise ResolveTimeout(reason) from None  # the resolver's own time ran out
        if dns.no_such_name(error):
            raise UnknownHost(reason, parts.hostname) from None
        raise UnsafeURLError(reason) from None
    for info in infos:
        address = _address(info[4][0])
        if never and _never_reached(address):
            raise UnsafeURLError(Reason(never, host=parts.hostname, address=str(address)))
        if networks:
            if _outside(address, networks):
                outside = gettext_noop(
                    "%(host)s resolves to %(address)s, outside the allowed networks"
                )
                raise UnsafeURLError(Reason(outside, host=parts.hostname, address=str(address)))
        elif not allow_private and _refused(address) and _outside(address, exempt):
            raise UnsafeURLError(Reason(private, host=parts.hostname, address=str(address)))
    return url, infos


def _ascii_host(host: str) -> str:
    """`host` as it is looked up and named in Host, SNI and a proxy's CONNECT: an
    internationalised name by IDNA 2008 with UTS #46's mapping (WHATWG's URL rule, which
    requests follows too): upper case, full-width forms and the ideographic full stop
    `。` become their plain forms, `ß` stays itself. UnsafeURLError for a name that has
    no such form (a joiner where IDNA 2008 allows none, an unassigned code point)."""
    if host.isascii():
        return host  # urlsplit lowered its case; urllib3 sends it as it is
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError as error:  # idna.IDNAError is one
        invalid = gettext_noop("%(host)s is not a valid host name: %(error)s")
        raise UnsafeURLError(Reason(invalid, host=host, error=str(error))) from None


def _with_host(parts, host: str) -> str:
    """The URL of `parts` with `host` for its (non-ASCII, so unbracketed) host."""
    userinfo, at, host_and_port = parts.netloc.rpartition("@")
    _, colon, port = host_and_port.partition(":")
    return parts._replace(netloc=f"{userinfo}{at}{host}{colon}{port}").geturl()


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text.split("%")[0])


_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known NAT64 prefix (RFC 6052)
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215)


# Not globally reachable by IANA's special-purpose address registries, yet global to the
# ipaddress module of Python 3.11 (newer ones know some of them): all of 192.0.0.0/24, the
# IETF protocol assignments (Python knows its /29 and 192.0.0.170/31; Oracle Cloud
# Classic's metadata service was 192.0.0.192), the dummy IPv6 prefix (RFC 9780), SRv6
# SIDs (RFC 9602) and the IPv6 documentation prefix 3fff::/20 (RFC 9637).
_NOT_GLOBAL = parse_networks(("192.0.0.0/24", "100:0:0:1::/64", "5f00::/16", "3fff::/20"))
# Inside them, what the registry does call globally reachable: the PCP and TURN anycast
# addresses (RFC 7723, RFC 8155), as Python 3.13 has it.
_GLOBAL_ALL_THE_SAME = parse_networks(("192.0.0.9/32", "192.0.0.10/32"))


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if not _globally_reachable(address) or address.is_multicast:
        return True
    return any(_refused(inner) for inner in _embedded_ipv4(address))


def _globally_reachable(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """`address.is_global`, with IANA's registries as they are now, and never a deprecated
    site-local IPv6 address (fec0::/10, RFC 3879): no special-purpose registry lists it,
    so Python calls it global, but some internal networks still route it."""
    if address.version == 6 and address.is_site_local:
        return False
    if not address.is_global:
        return False
    return _outside(address, _NOT_GLOBAL) or not _outside(address, _GLOBAL_ALL_THE_SAME)


def _embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list:
    """The IPv4 addresses an IPv6 address carries, which the network may reach it by.

    Python calls `::127.0.0.1`, `64:ff9b::7f00:1` (NAT64) and `2002:7f00:1::`
    (6to4) global, yet a host with such a route connects to 127.0.0.1 through
    them: each is judged by the IPv4 address inside it.
    """
    if address.version == 4:
        return []
    if address in _NAT64_LOCAL:
        return [ipaddress.IPv4Address("127.0.0.1")]  # a site's own translator: never public
    inner = []
    if address in _IPV4_COMPATIBLE or address in _NAT64:
        inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.ipv4_mapped:
        inner.append(address.ipv4_mapped)
    if address.sixtofour:
        inner.append(address.sixtofour)
    if address.teredo:
        inner.extend(address.teredo)  # the relay server and the (de-obfuscated) client
    return inner


class DeadlineExceeded(requests.exceptions.ReadTimeout):
    """The answer was not complete by the request's `deadline` (it may have been received)."""


class _Deadline:
    """This thread's request deadline: the watchdog cuts the connection when it passes."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.passed = False
        self.connection = None  # the one being watched; None once the request ended

    def watch(self, connection) -> None:
        _watchdog.watch(self, connection)

    def cut(self, connection) -> None:
        self.passed = True
        sock = getattr(connection, "sock", None)
        while isinstance(sock, SSLTransport):  # TLS inside an https:// proxy's TLS
            sock = sock.socket
        if sock is not None:
            try:  # wakes the read waiting on it, which then fails
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        _watchdog.forget(self)


class _Watchdog:
    """One thread per process that cuts the connections whose deadline passed.

    A timer thread per request cost about 1 ms of CPU a POST (starting and ending
    it), as much as the POST; this one mostly sleeps, waking when the earliest
    watched deadline is due (finished requests' entries are dropped then)."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.due: list = []  # heap of (ends, sequence, deadline, connection)
        self.sequence = itertools.count()
        self.thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline, connection) -> None:
        entry = (deadline.ends, next(self.sequence), deadline, connection)
        with self.lock:
            deadline.connection = connection
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self.thread.start()
            heapq.heappush(self.due, entry)
            if self.due[0] is entry:  # sooner than what the thread sleeps for
                self.lock.notify()

    def forget(self, deadline: _Deadline) -> None:
        with self.lock:  # once this returns, the connection is not cut
            deadline.connection = None

    def _run(self) -> None:
        with self.lock:
            while True:
                while self.due and self.due[0][2].connection is not self.due[0][3]:
                    heapq.heappop(self.due)  # its request ended, or moved to another connection
                if not self.due:
                    self.lock.wait()
                    continue
                ends, _, deadline, connection = self.due[0]
                if ends > time.monotonic():
                    self.lock.wait(ends - time.monotonic())
                    continue
                heapq.heappop(self.due)
                deadline.cut(connection)


def _new_watchdog() -> None:
    global _watchdog
    _watchdog = _Watchdog()


_new_watchdog()
# A forked child (a prefork worker) has none of its parent's threads, and maybe a lock
# its parent held at the fork: it starts its own watchdog.
os.register_at_fork(after_in_child=_new_watchdog)


@contextmanager
def _within(seconds: float | None):
    """Runs the request under a `_Deadline` of `seconds`, if given."""
    if seconds is None:
        yield
        return
    _local.deadline = watch = _Deadline(seconds)
    try:
        yield
    except requests.RequestException as error:
        if watch.passed:
            raise DeadlineExceeded(f"no complete answer within {seconds:g} s") from error
        raise
    finally:
        watch.stop()
        _local.deadline = None
    if watch.passed:  # an answer without a length, cut short by the deadline
        raise DeadlineExceeded(f"no complete answer within {seconds:g} s")


class _Bounded:
    """Sends its request under this thread's `_Deadline`, if `request()` set one."""

    def request(self, *args, **kwargs):
        deadline = getattr(_local, "deadline", None)
        if deadline is not None:
            deadline.watch(self)
        return super().request(*args, **kwargs)


class _Pinned:
    """Connects to the addresses `check_url` approved for this request (`request` keeps
    them for its thread meanwhile), the first that accepts in their order, as urllib3 does
    with the answers of a lookup of its own; the TLS layer above still names and verifies
    the URL's host."""

    def _new_conn(self) -> socket.socket:
        addresses = getattr(_local, "addresses", None)
        if not addresses:
            raise RuntimeError(f"a connection to {self.host} that no check approved")
        try:
            return _connect_first(addresses, self.timeout, self.source_address, self.socket_options)
        except TimeoutError as error:  # urllib3's own wording, which requests maps the same
            timed_out = f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            raise ConnectTimeoutError(self, timed_out) from error
        except OSError as error:
            raise NewConnectionError(
                self, f"Failed to establish a new connection: {error}"
            ) from error


def _connect_first(
    addresses: list[tuple], timeout, source_address, socket_options
) -> socket.socket:
    error: OSError | None = None
    for *_, sockaddr in addresses:
        try:  # a numeric host: urllib3 looks nothing up for it
            return connection.create_connection(
                sockaddr[:2], timeout, source_address=source_address, socket_options=socket_options
            )
        except OSError as failed:
            error = failed
    raise error


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = type("_PinnedHTTPConnection", (_Bounded, _Pinned, HTTPConnection), {})


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = type("_PinnedHTTPSConnection", (_Bounded, _Pinned, HTTPSConnection), {})


class _BoundedHTTPPool(HTTPConnectionPool):
    ConnectionCls = type("_BoundedHTTPConnection", (_Bounded, HTTPConnection), {})


class _BoundedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = type("_BoundedHTTPSConnection", (_Bounded, HTTPSConnection), {})


class _Adapter(HTTPAdapter):
    def __init__(self, *, pinned: bool):
        self.pinned = pinned
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        if self.pinned:
            pools = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}
        else:
            pools = {"http": _BoundedHTTPPool, "https": _BoundedHTTPSPool}
        self.poolmanager.pool_classes_by_scheme = pools

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        if proxy not in self.proxy_manager and proxy.lower().startswith("https:"):
            proxy_kwargs["proxy_ssl_context"] = _proxy_tls()
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, ProxyManager):
            # Every connection of a proxy manager goes to the proxy (a tunnel through it
            # for https), pinned to the proxy's approved addresses as a direct one is to
            # its host's.
            manager.pool_classes_by_scheme = self.poolmanager.pool_classes_by_scheme
        return manager


def _proxy_tls() -> ssl.SSLContext:
    """How an https:// proxy's certificate is checked, for its URL's host name: against
    the system's CA certificates (where an internal CA is added, or SSL_CERT_FILE's) and
    certifi's (which URLs' hosts are checked against). Given to urllib3 as the proxy's
    own context, it applies whatever the URL's scheme: requests would turn the check off
    for an http URL, whose request goes to the proxy in that TLS, password included."""
    context = create_urllib3_context()  # CERT_REQUIRED, host name checked
    context.load_default_certs()
    context.load_verify_locations(requests.certs.where())
    return context


def _session(
    allow_private: bool,
    networks: tuple[Network, ...] = (),
    *,
    to_proxy: bool = False,
    exempt: tuple[Network, ...] = (),
) -> requests.Session:
    """This thread's session for one rule (private addresses refused, but for `exempt`;
    `networks`; or nothing checked), so a kept-alive connection is reused only under the
    rule that approved its address; `to_proxy`: the rule is the proxy's, whose address
    the connections go to (always looked up by us, so always pinned)."""
    if networks:
        key = ("networks", networks)
    else:
        key = ("open",) if allow_private else ("checked", exempt)
    key = ("proxy", *key) if to_proxy else key
    if not hasattr(_local, "sessions"):
        _local.sessions = {}
    sessions = _local.sessions
    session = sessions.get(key)
    if session is None:
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        session.trust_env = False  # no proxies or netrc picked up from the environment
        pinned = bool(networks) or not allow_private or to_proxy
        session.mount("http://", _Adapter(pinned=pinned))
        session.mount("https://", _Adapter(pinned=pinned))
        sessions[key] = session
    return session


def request(
    method: str,
    url: str,
    *,
    json=None,
    data: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    params: dict | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_bytes: int | None = None,
    max_redirects: int = 0,
    allow_private: bool | None = None,
    networks: tuple[Network, ...] = (),
    proxy: str | None = None,
    deadline: float | None = None,
    webhook: bool = False,
    agent: bool = False,
) -> HttpResponse:
    """Make one checked request and return at most `max_bytes` of the answer.

    Raises UnsafeURLError before connecting to a refused address, and the
    `requests` exceptions (ConnectTimeout, ReadTimeout, ConnectionError) as they
    come, so callers can tell "never connected" from "may have been received"
    (ResolveTimeout, a ConnectTimeout, when the host's name was not resolved in time).
    `proxy` (an http:// or https:// URL, credentials included) carries the request for a
    bot whose trusted IP is a proxy's: it is checked by `check_proxy_url` (UnsafeURLError,
    ResolveTimeout) and connected to at the addresses approved; the proxy resolves the
    URL's host, and what it may reach is its rule, not ours.
    `networks`, when given, are the only addresses it may reach (BOTADMIN_AGENT_NETWORKS);
    a proxy cannot keep to them, so the two do not go together (ValueError).
    `webhook`: the URL is a webhook endpoint's, which may also be in
    BOTADMIN_WEBHOOK_NETWORKS; `agent`: a bridge agent's, which may be at private
    addresses, in BOTADMIN_AGENT_NETWORKS only when that is set (`check_url`).
    `deadline`: seconds for the whole exchange, answer included; past it the connection
    is cut and DeadlineExceeded (a ReadTimeout) raised.
    """
    timeout = (
        connect_timeout or settings.BOTADMIN_HTTP_CONNECT_TIMEOUT,
        read_timeout or settings.BOTADMIN_HTTP_READ_TIMEOUT,
    )
    limit = max_bytes or settings.BOTADMIN_HTTP_MAX_RESPONSE_BYTES
    if allow_private is None:
        allow_private = settings.BOTADMIN_ALLOW_PRIVATE_URLS
    rule = _rule(webhook=webhook, agent=agent)
    networks = rule.pop("networks", networks)
    if proxy and networks:
        raise ValueError("a proxy resolves the host itself: networks cannot be kept through it")
    try:
        with _within(deadline):
            if proxy:
                where = proxy_networks()
                try:
                    proxy, proxy_addresses = _checked_proxy(proxy, where)
                except UnsafeURLError as error:
                    refused = gettext_noop("the outbound proxy is refused: %(reason)s")
                    raise UnsafeURLError(Reason(refused, reason=reasons.of(error))) from None
                session = _session(settings.BOTADMIN_ALLOW_PRIVATE_URLS, where, to_proxy=True)
            else:
                session = _session(allow_private, networks, exempt=rule.get("exempt", ()))
            for _hop in range(max_redirects + 1):
                # The connection this request opens, if any, goes to the approved addresses,
                # and the URL names its host as it was checked. Through a proxy, the URL's
                # host is not looked up (the proxy resolves it): the proxy's addresses are.
                url, addresses = _checked(
                    url, allow_private=allow_private or bool(proxy), networks=networks, **rule
                )
                _local.addresses = proxy_addresses if proxy else addresses
                with session.request(
                    method,
                    url,
                    json=json,
                    data=data,
                    headers=headers,
                    params=params,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,
                    proxies={"http": proxy, "https": proxy} if proxy else None,
                ) as response:
                    if response.is_redirect and max_redirects:
                        if _hop == max_redirects:
                            break
                        url = urljoin(url, response.headers["Location"])
                        params = None
                        if response.status_code in (301, 302, 303):
                            method, json, data = "GET", None, None
                        continue
                    content, truncated = _read_limited(response, limit)
                    return HttpResponse(
                        status=response.status_code,
                        headers=CaseInsensitiveDict(response.headers),
                        content=content,
                        truncated=truncated,
                        elapsed_ms=int(response.elapsed.total_seconds() * 1000),
                    )
            redirects = gettext_noop("more than %(count)s redirects")
            raise UnsafeURLError(Reason(redirects, count=max_redirects))
    except requests.RequestException as error:
        _mask_texts(error)
        raise
    finally:
        _local.addresses = None


def _mask_texts(error: BaseException) -> None:
    """Mask the secrets in the texts an error carries, in place: requests and urllib3
    write the URL into them (`Max retries exceeded with url: /cgi-bin/gettoken?
    corpsecret=…`, a webhook's `/services/T…/B…/TOKEN`), and connectors keep that text
    where operators read it (a message's last error, a sync's). In place, so its type and cause still say
    whether the request left (`connectors.base.never_connected`)."""
    error.args = tuple(
        # A Reason of ours names no secret (ResolveTimeout's: a host) and stays a Reason.
        mask_secrets(arg) if isinstance(arg, str) and not isinstance(arg, Reason) else arg
        for arg in error.args
    )
    for name in ("url", "_message"):  # urllib3 keeps them for pickling
        if isinstance(value := getattr(error, name, None), str):
            if name == "url":  # the path alone
                value = mask_path(value, getattr(getattr(error, "pool", None), "host", ""))
            setattr(error, name, mask_secrets(value))
    for arg in error.args:
        if isinstance(arg, BaseException):
            _mask_texts(arg)


def _read_limited(response: requests.Response, limit: int) -> tuple[bytes, bool]:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False
