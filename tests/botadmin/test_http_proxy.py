"""botadmin/http.py through a bot's outbound proxy: the proxy is told the host by name
(CONNECT for https, an absolute URL for http) and resolves it itself; botadmin looks
nothing up, names the host as its check wrote it, and keeps the request's deadline. The
proxy itself is checked as a URL's host is (BOTADMIN_OUTBOUND_PROXY_NETWORKS), looked up
within BOTADMIN_DNS_TIMEOUT, and connected to at the address approved."""

from __future__ import annotations

import contextlib
import os
import time

import pytest
import requests

from botadmin import http
from botadmin.networks import parse_networks
from devtools.receiver import Receiver
from tests.outbound import ConnectProxy, Names, tls_context, tls_receiver


@pytest.fixture
def names(monkeypatch, settings) -> Names:
    """This host's resolver, with private addresses refused; proxies may be on this host."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = ["127.0.0.0/8"]
    return Names(monkeypatch)


@pytest.fixture
def receiver():
    with Receiver() as receiver:
        yield receiver


def test_https_through_a_proxy_names_the_host_to_the_proxy_which_resolves_it(
    tmp_path, monkeypatch, names
):
    """Here the name resolves to a private address (split DNS, or none at all on a host
    that reaches the outside only through its proxy): the proxy's answer is the one used."""
    server, sni, cert_file = tls_receiver(tmp_path, "wecom.example.test")
    proxied = http._session(False, http.proxy_networks(), to_proxy=True)
    monkeypatch.setattr(proxied, "verify", cert_file)
    names.answer("wecom.example.test", ["10.0.0.7"])

    with server, ConnectProxy({"wecom.example.test": "127.0.0.1"}) as proxy:
        url = f"https://wecom.example.test:{server.port}/cgi-bin/message/send"
        response = http.request("POST", url, data="hello", proxy=proxy.url)

    assert response.status == 200
    assert proxy.asked == [f"CONNECT wecom.example.test:{server.port}"]
    assert sni == ["wecom.example.test"]  # the tunnel's TLS still checks the host's name
    assert [r.body for r in server.requests] == [b"hello"]
    assert names.lookups["wecom.example.test"] == 0


def test_an_international_host_reaches_the_proxy_as_the_check_wrote_it(receiver, names):
    name = "xn--strae-oqa.example.test"
    with ConnectProxy({name: "127.0.0.1"}) as proxy:
        url = f"http://Straße。example。test:{receiver.port}/hook"
        response = http.request("POST", url, data="x", proxy=proxy.url)

    assert response.status == 200
    assert proxy.asked == [f"POST http://{name}:{receiver.port}/hook"]
    assert receiver.requests[0].headers["Host"] == f"{name}:{receiver.port}"


def test_an_answer_crawling_through_a_proxy_is_cut_at_the_deadline(receiver, names):
    receiver.trickle = 0.25  # each line well within the read timeout; all of it in 3 s
    receiver.respond(200, b"ok", {f"X-Line-{n}": "." for n in range(10)})
    with ConnectProxy({"slow.example.test": "127.0.0.1"}) as proxy:
        started = time.monotonic()
        with pytest.raises(http.DeadlineExceeded, match="within 0.5 s"):
            url = f"http://slow.example.test:{receiver.port}/"
            http.request("GET", url, read_timeout=1, deadline=0.5, proxy=proxy.url)

    assert time.monotonic() - started < 1.5


def test_a_proxy_cannot_be_held_to_networks():
    """It resolves the host itself, so addresses checked here would not be the ones used."""
    agents = parse_networks(("10.20.0.0/16",))
    with pytest.raises(ValueError, match="networks"):
        http.request("GET", "http://agent.example.test/", networks=agents, proxy="http://p:3128")


@pytest.mark.parametrize(
    ("networks", "refusal"),
    [
        (
            [],
            "127.0.0.1 resolves to 127.0.0.1, a private or reserved address "
            "(set BOTADMIN_OUTBOUND_PROXY_NETWORKS to allow it)",
        ),
        (["10.0.0.0/8"], "127.0.0.1 resolves to 127.0.0.1, outside the allowed networks"),
    ],
    ids=["private", "outside-networks"],
)
def test_a_proxy_where_proxies_may_not_be_is_never_connected_to(
    receiver, names, settings, networks, refusal
):
    """Whoever may set a bot's proxy cannot point botadmin at any inside host and port:
    private addresses only in BOTADMIN_OUTBOUND_PROXY_NETWORKS, and only them when set."""
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = networks
    with ConnectProxy({"wecom.example.test": "127.0.0.1"}) as proxy:
        with pytest.raises(http.UnsafeURLError) as refused:
            url = f"http://wecom.example.test:{receiver.port}/cgi-bin/gettoken"
            http.request("GET", url, proxy=proxy.url)

    assert str(refused.value) == f"the outbound proxy is refused: {refusal}"
    assert proxy.asked == [] and receiver.requests == []


def test_the_proxys_name_is_looked_up_for_each_request_and_its_answer_connected_to(receiver, names):
    """DNS rebinding: the name that was approved is not looked up again for the
    connection (where it could name another address), and a later request checks anew."""
    names.answer("squid.example.test", ["127.0.0.1"], ["10.0.0.9"])
    with ConnectProxy({"wecom.example.test": "127.0.0.1"}) as proxy:
        squid = proxy.url.replace("127.0.0.1", "squid.example.test")
        url = f"http://wecom.example.test:{receiver.port}/cgi-bin/gettoken"
        response = http.request("GET", url, proxy=squid)
        assert names.lookups["squid.example.test"] == 1
        with pytest.raises(http.UnsafeURLError, match="10.0.0.9, outside the allowed networks"):
            http.request("GET", url, proxy=squid)

    assert response.status == 200
    assert proxy.asked == [f"GET {url}"]


def test_a_proxy_whose_name_does_not_resolve_in_time_fails_retryably_in_time(hung_resolver):
    started = time.monotonic()
    with pytest.raises(http.ResolveTimeout, match="cannot resolve squid.hung.example within 0.2 s"):
        http.request("GET", "https://wecom.example.test/", proxy="http://squid.hung.example:3128")

    assert time.monotonic() - started < 2


# --- an https:// proxy: TLS to the proxy, its certificate checked -----------------------


@pytest.fixture
def trusted(monkeypatch):
    """Who is trusted: `proxy(cert_file)`, the system's CA certificates (SSL_CERT_FILE,
    which an https:// proxy's certificate is checked against); `target(cert_file)`,
    requests' CA bundle (certifi's, which a URL's host's certificate is checked against)."""

    class Trusted:
        def proxy(self, cert_file: str) -> None:
            monkeypatch.setenv("SSL_CERT_FILE", cert_file)

        def target(self, cert_file: str) -> None:
            monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", cert_file)

    trusted = Trusted()
    trusted.proxy(os.devnull)  # this host's own CAs vouch for nothing here
    return trusted


@pytest.fixture
def squid(tmp_path, names):
    """`squid(certificate_name)`: an https:// proxy on 127.0.0.1, named
    squid.example.test, showing a certificate for `certificate_name`; its SNI names and
    its certificate's file."""
    names.answer("squid.example.test", ["127.0.0.1"])
    proxies = contextlib.ExitStack()

    def start(certificate_name: str = "squid.example.test"):
        context, sni, cert_file = tls_context(tmp_path, certificate_name)
        proxy = ConnectProxy({"wecom.example.test": "127.0.0.1"}, tls=context)
        proxies.enter_context(proxy)
        return proxy, sni, cert_file

    with proxies:
        yield start


@pytest.fixture(params=["http", "https"])
def target(request, tmp_path, trusted):
    """The URL's host, wecom.example.test: plain (the proxy is sent the request itself,
    inside the TLS to the proxy) or https (CONNECT, and TLS inside the proxy's TLS)."""
    if request.param == "https":
        server, _, cert_file = tls_receiver(tmp_path, "wecom.example.test")
        trusted.target(cert_file)
    else:
        server = Receiver()
    with server:
        yield server


def proxied_url(target: Receiver, path: str = "/cgi-bin/gettoken") -> str:
    scheme = "https" if target.tls else "http"
    return f"{scheme}://wecom.example.test:{target.port}{path}"


def test_an_https_proxy_is_spoken_to_in_tls_under_its_name_and_carries_the_request(
    squid, target, trusted
):
    proxy, sni, cert_file = squid()
    trusted.proxy(cert_file)
    url = proxied_url(target)
    squid_url = f"https://botadmin:s3cret@squid.example.test:{proxy.port}"

    response = http.request("POST", url, data="hello", proxy=squid_url)

    assert response.status == 200
    assert sni == ["squid.example.test"]
    connect = f"CONNECT wecom.example.test:{target.port}"
    assert proxy.asked == [connect if target.tls else f"POST {url}"]
    assert proxy.authorizations == ["Basic Ym90YWRtaW46czNjcmV0"]  # botadmin:s3cret
    assert [r.body for r in target.requests] == [b"hello"]


@pytest.mark.parametrize("certificate", ["untrusted", "for-another-name"])
def test_an_https_proxy_whose_certificate_is_not_vouched_for_is_told_nothing(
    squid, target, trusted, certificate
):
    """Whatever the URL's scheme: the proxy would be told the password, the host and, for
    a plain URL, the request itself."""
    if certificate == "untrusted":
        proxy, _, _ = squid()
    else:
        proxy, _, cert_file = squid("other.example.test")
        trusted.proxy(cert_file)
    squid_url = f"https://botadmin:s3cret@squid.example.test:{proxy.port}"

    with pytest.raises(requests.exceptions.ProxyError, match="certificate verify failed"):
        http.request("POST", proxied_url(target), data="hello", proxy=squid_url)

    assert proxy.asked == [] and target.requests == []


def test_an_answer_crawling_through_an_https_proxy_in_tls_is_cut_at_the_deadline(
    tmp_path, squid, trusted
):
    """TLS inside TLS: the connection's socket is urllib3's own TLS layer over the
    proxy's, which the deadline still cuts."""
    proxy, _, cert_file = squid()
    trusted.proxy(cert_file)
    server, _, target_cert = tls_receiver(tmp_path, "wecom.example.test")
    trusted.target(target_cert)
    server.trickle = 0.25  # each line well within the read timeout; all of it in 3 s
    server.respond(200, b"ok", {f"X-Line-{n}": "." for n in range(10)})
    with server:
        started = time.monotonic()
        with pytest.raises(http.DeadlineExceeded, match="within 0.5 s"):
            squid_url = f"https://squid.example.test:{proxy.port}"
            url = proxied_url(server, "/")
            http.request("GET", url, read_timeout=1, deadline=0.5, proxy=squid_url)

    assert time.monotonic() - started < 1.5


# --- private addresses allowed, no BOTADMIN_OUTBOUND_PROXY_NETWORKS ----------------------


@pytest.fixture
def open_names(names, settings) -> Names:
    """Private addresses allowed and no proxy networks: nothing is refused (dev mode)."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = True
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = []
    return names


def test_with_nothing_refused_the_proxys_name_is_still_looked_up_once_and_connected_to(
    receiver, open_names
):
    """A second lookup (urllib3's own, for the connection) would be answered an address
    where nothing listens."""
    open_names.answer("squid.example.test", ["127.0.0.1"], ["127.0.0.2"])
    with ConnectProxy({"wecom.example.test": "127.0.0.1"}) as proxy:
        squid = proxy.url.replace("127.0.0.1", "squid.example.test")
        url = f"http://wecom.example.test:{receiver.port}/cgi-bin/gettoken"
        response = http.request("GET", url, proxy=squid)

    assert response.status == 200
    assert proxy.asked == [f"GET {url}"]
    assert open_names.lookups["squid.example.test"] == 1


def test_with_nothing_refused_a_proxy_whose_name_does_not_resolve_in_time_fails_in_time(
    hung_resolver, settings
):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = True
    settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS = []
    started = time.monotonic()
    with pytest.raises(http.ResolveTimeout, match="cannot resolve squid.hung.example within 0.2 s"):
        http.request("GET", "https://wecom.example.test/", proxy="http://squid.hung.example:3128")

    assert time.monotonic() - started < 2
