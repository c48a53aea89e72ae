import os
import socket
import time

import pytest
import requests

from botadmin import http, reasons
from botadmin.networks import parse_networks
from botadmin.reasons import Reason
from connectors import base as connectors_base
from devtools.receiver import Receiver


@pytest.fixture
def receiver():
    with Receiver() as receiver:
        yield receiver


def test_a_request_reaches_the_server_and_returns_its_answer(receiver):
    receiver.respond(201, b'{"errcode": 0}', {"Content-Type": "application/json"})
    response = http.request("POST", receiver.url("/hook"), json={"a": 1}, allow_private=True)
    assert response.status == 201 and response.ok and response.json() == {"errcode": 0}
    assert receiver.requests[0].path == "/hook"
    assert receiver.requests[0].body == b'{"a": 1}'


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5:7600/send",
        "http://192.168.1.1/",
        "http://[::1]/",
        "http://0.0.0.0/",
    ],
)
def test_private_loopback_and_metadata_addresses_are_refused_by_default(url):
    with pytest.raises(http.UnsafeURLError, match="private or reserved"):
        http.request("GET", url, allow_private=False)


@pytest.mark.parametrize(
    "host",
    [
        "[::127.0.0.1]",  # IPv4-compatible
        "[::a00:5]",  # IPv4-compatible 10.0.0.5
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:a9fe:a9fe]",  # IPv4-mapped 169.254.169.254
        "[64:ff9b::7f00:1]",  # NAT64 well-known prefix
        "[64:ff9b::c0a8:101]",  # NAT64 of 192.168.1.1
        "[64:ff9b:1::7f00:1]",  # local-use NAT64
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[2002:a00:5::1]",  # 6to4 of 10.0.0.5
        "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo, client 127.0.0.1
    ],
)
def test_an_ipv4_loopback_or_private_address_inside_an_ipv6_address_is_refused(host):
    with pytest.raises(http.UnsafeURLError, match="private or reserved"):
        http.check_url(f"http://{host}:8080/hook", allow_private=False)


@pytest.mark.parametrize(
    "host",
    [
        "[fec0::1]",  # deprecated site-local (RFC 3879), still routed inside some networks
        "[feff::1]",
        "192.0.0.192",  # IETF protocol assignments (Oracle Cloud Classic's metadata)
        "192.0.0.8",
        "[64:ff9b::c000:c0]",  # 192.0.0.192 through NAT64
        "[3fff::1]",  # IPv6 documentation (RFC 9637)
        "[5f00::1]",  # SRv6 SIDs (RFC 9602)
        "[100:0:0:1::1]",  # the dummy IPv6 prefix (RFC 9780)
    ],
)
def test_special_purpose_addresses_python_calls_global_are_refused(host):
    """IANA's special-purpose registries say these are not globally reachable (or, for
    fec0::/10, no registry lists it at all), though Python 3.11's ipaddress calls them
    global."""
    with pytest.raises(http.UnsafeURLError, match="private or reserved"):
        http.check_url(f"http://{host}/latest/meta-data/", allow_private=False)


@pytest.mark.parametrize("host", ["192.0.0.9", "192.0.0.10"])
def test_the_globally_reachable_anycast_addresses_inside_192_0_0_0_24_are_allowed(host):
    """The registry's own exceptions (PCP and TURN anycast, RFC 7723 and RFC 8155)."""
    assert http.check_url(f"http://{host}/", allow_private=False)


@pytest.mark.parametrize("host", ["[64:ff9b::808:808]", "[2002:808:808::1]"])
def test_a_public_ipv4_address_reached_through_nat64_or_6to4_is_allowed(host):
    http.check_url(f"http://{host}/hook", allow_private=False)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x", "//nohost"]
)
def test_only_http_and_https_are_allowed(url):
    with pytest.raises(http.UnsafeURLError):
        http.check_url(url, allow_private=True)


def test_the_setting_allows_private_addresses(settings, receiver):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    with pytest.raises(http.UnsafeURLError):
        http.request("GET", receiver.url())
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = True
    assert http.request("GET", receiver.url()).status == 200


def test_a_host_not_resolved_in_time_is_a_request_that_never_left(hung_resolver):
    started = time.monotonic()
    with pytest.raises(http.ResolveTimeout) as raised:
        http.request("POST", "https://hooks.hung.example/in?key=abc", data="payload")

    assert time.monotonic() - started < 1
    assert isinstance(raised.value, requests.ConnectTimeout)
    assert connectors_base.never_connected(raised.value)  # so it is retried
    reason = reasons.of(raised.value)
    assert isinstance(reason, Reason)
    assert reason == "cannot resolve hooks.hung.example within 0.2 s"


@pytest.mark.parametrize(
    "errno, raised, said",
    [
        (
            socket.EAI_AGAIN,
            http.ResolveTimeout,
            "cannot resolve hooks.example.com for now: the DNS server gave no answer",
        ),
        (socket.EAI_NONAME, http.UnknownHost, "cannot resolve hooks.example.com"),
        (
            socket.EAI_FAIL,
            http.UnsafeURLError,
            "cannot resolve hooks.example.com: [Errno -4] the resolver's words",
        ),
    ],
)
def test_a_resolver_giving_up_for_now_is_retried_and_an_unknown_name_refused(
    settings, monkeypatch, errno, raised, said
):
    """In our words; the resolver's own only where ours have none."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False

    def resolver(host, *args, **kwargs):
        raise socket.gaierror(errno, "the resolver's words")

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(raised) as failed:
        http.check_url("https://hooks.example.com/in")
    assert str(failed.value) == said


def test_redirects_are_not_followed_unless_asked(receiver):
    receiver.respond(302, b"", {"Location": "/elsewhere"})
    response = http.request("GET", receiver.url("/start"))
    assert response.status == 302 and len(receiver.requests) == 1


def test_each_redirect_hop_is_checked(receiver):
    receiver.respond(302, b"", {"Location": "file:///etc/passwd"})
    with pytest.raises(http.UnsafeURLError, match="only http and https"):
        http.request("GET", receiver.url("/start"), max_redirects=3)
    assert len(receiver.requests) == 1


def test_redirects_are_followed_up_to_the_limit(receiver):
    receiver.respond(302, b"", {"Location": "/again"})
    with pytest.raises(http.UnsafeURLError, match="more than 2 redirects"):
        http.request("GET", receiver.url("/start"), max_redirects=2)
    assert len(receiver.requests) == 3


def test_the_answer_is_read_up_to_the_limit(receiver):
    receiver.respond(200, b"x" * 10_000)
    response = http.request("GET", receiver.url(), max_bytes=1024)
    assert response.truncated and len(response.content) == 1024


def test_a_slow_server_times_out(receiver):
    receiver.delay = 1.0
    with pytest.raises(requests.ReadTimeout):
        http.request("GET", receiver.url(), read_timeout=0.2)


# The open session (private addresses allowed) and a checked one (its addresses limited).
@pytest.mark.parametrize("networks", [(), parse_networks(("127.0.0.0/8",))])
def test_an_answer_crawling_in_past_the_deadline_is_cut_there(receiver, networks):
    # Each line comes well within the read timeout; the whole answer takes 3 s.
    receiver.trickle = 0.25
    receiver.respond(200, b"ok", {f"X-Line-{n}": "." for n in range(10)})
    started = time.monotonic()
    with pytest.raises(http.DeadlineExceeded, match="within 0.5 s"):
        http.request("GET", receiver.url(), read_timeout=1, deadline=0.5, networks=networks)
    assert time.monotonic() - started < 1.5


def test_a_forked_worker_still_cuts_an_answer_at_its_deadline(receiver):
    """A prefork pool child has none of its parent's threads: the deadline watchdog the
    parent started (by a request of its own) must not be one the child relies on."""
    receiver.respond(200, b"ok")
    http.request("GET", receiver.url(), deadline=5)  # the parent's watchdog is running
    receiver.trickle = 0.25
    receiver.respond(200, b"ok", {f"X-Line-{n}": "." for n in range(10)})

    child = os.fork()
    if child == 0:  # pragma: no cover - reported through the exit status
        started = time.monotonic()
        try:
            http.request("GET", receiver.url(), read_timeout=1, deadline=0.5)
        except http.DeadlineExceeded:
            os._exit(0 if time.monotonic() - started < 1.5 else 2)
        except BaseException:
            os._exit(3)
        os._exit(1)

    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_answer_within_the_deadline_is_read_whole(receiver):
    receiver.respond(200, b"ok")
    assert http.request("GET", receiver.url(), deadline=5).content == b"ok"
    assert http.request("GET", receiver.url(), deadline=5).content == b"ok"  # timer reset


def test_a_closed_port_fails_to_connect():
    with pytest.raises(requests.ConnectionError):
        http.request("GET", "http://127.0.0.1:9/", connect_timeout=1)


def test_a_failed_request_names_its_url_without_the_secrets_in_its_query():
    # requests puts the URL in its error, which connectors keep where operators read it.
    url = "http://127.0.0.1:9/cgi-bin/gettoken?corpid=ww1&corpsecret=app-secret-1&key=robot-key-1"

    with pytest.raises(requests.ConnectionError) as raised:
        http.request("GET", url, connect_timeout=1)

    text = str(raised.value)
    assert "/cgi-bin/gettoken?corpid=ww1&corpsecret=" in text
    assert "app-secret-1" not in text and "robot-key-1" not in text
    assert connectors_base.never_connected(raised.value)  # still says what happened


def test_answer_headers_are_read_whatever_their_case(receiver):
    """HTTP/2 proxies send header names in lower case: `retry-after` is `Retry-After`."""
    receiver.respond(429, b"", {"retry-after": "7", "X-Upstream": "a"})
    response = http.request("POST", receiver.url("/send"))
    assert response.headers["Retry-After"] == "7"
    assert response.headers.get("retry-after") == "7"
    assert response.headers["x-upstream"] == "a"


# 镕 is a GBK character outside GB2312.
ERROR_PAGE = "<h1>服务暂时不可用，请稍后再试（朱镕）</h1>"


@pytest.mark.parametrize(
    "content_type, encoding",
    [
        ("text/html; charset=GBK", "gbk"),
        ('text/html;charset="gb2312"', "gbk"),  # declared gb2312, written in GBK as usual
        ("text/html; charset=gb18030", "gb18030"),
        ("application/json", "utf-8"),
        ("text/html; charset=utf-8", "utf-8"),
    ],
)
def test_the_text_is_decoded_by_the_declared_charset(receiver, content_type, encoding):
    receiver.respond(503, ERROR_PAGE.encode(encoding), {"Content-Type": content_type})
    assert http.request("GET", receiver.url()).text == ERROR_PAGE


GBK_PAGE = (
    "<html><head>{meta}<title>502 错误</title></head>"
    "<body><h1>网关超时（朱镕）</h1><hr><center>nginx</center></body></html>"
)


@pytest.mark.parametrize(
    "meta",
    [
        '<meta charset="gbk">',
        "<META CHARSET=GB2312>",
        '<meta http-equiv="Content-Type" content="text/html; charset=gb2312" />',
        "<!-- <meta charset=utf-8> --><meta http-equiv=content-type content='text/html;charset=GBK'>",
    ],
)
@pytest.mark.parametrize("content_type", ["text/html", None])
def test_a_page_without_a_charset_in_its_header_is_read_by_its_meta_charset(
    receiver, meta, content_type
):
    page = GBK_PAGE.format(meta=meta)
    receiver.respond(
        502, page.encode("gbk"), {"Content-Type": content_type} if content_type else {}
    )
    assert http.request("GET", receiver.url()).text == page


@pytest.mark.parametrize(
    "content_type, body, encoding",
    [
        # The header wins over the page.
        ("text/html; charset=utf-8", GBK_PAGE.format(meta='<meta charset="gbk">'), "utf-8"),
        # Only a page is read for a <meta>: JSON quoting one is UTF-8.
        ("application/json", '{"html": "<meta charset=gbk>", "error": "网关超时"}', "utf-8"),
        # Past the first 1 KB a <meta> is not looked for, as browsers do not.
        ("text/html", " " * 1024 + '<meta charset="gbk">网关超时', "utf-8"),
        # A page that says UTF-16 in ASCII is not in UTF-16.
        ("text/html", '<meta charset="utf-16"><p>网关超时</p>', "utf-8"),
    ],
)
def test_a_meta_charset_counts_only_in_a_page_whose_header_names_none(
    receiver, content_type, body, encoding
):
    receiver.respond(502, body.encode(encoding), {"Content-Type": content_type})
    assert http.request("GET", receiver.url()).text == body


@pytest.mark.parametrize("charset", ["", "; charset=no-such-charset", "; charset=zlib"])
def test_an_answer_without_a_usable_charset_is_read_as_utf_8_with_replacements(receiver, charset):
    receiver.respond(500, "坏了".encode() + b"\xff", {"Content-Type": f"text/plain{charset}"})
    assert http.request("GET", receiver.url()).text == "坏了\ufffd"


@pytest.mark.parametrize("encoding, before", [("utf-8", ""), ("gbk", "x")])
def test_a_cut_inside_a_character_drops_the_character_instead_of_garbling_it(
    receiver, encoding, before
):
    width = len("页".encode(encoding))  # 3 bytes in UTF-8, 2 in GBK
    assert (1024 - len(before)) % width  # the 1,024th byte is inside a character
    body = (before + "页" * 1000).encode(encoding)
    receiver.respond(500, body, {"Content-Type": f"text/html; charset={encoding}"})

    response = http.request("GET", receiver.url(), max_bytes=1024)

    assert response.truncated and len(response.content) == 1024
    assert response.text == before + "页" * ((1024 - len(before)) // width)


def test_webhook_networks_do_not_open_private_addresses_to_other_outbound_requests(settings):
    """An image URL (and every request that is no webhook) still refuses them."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_WEBHOOK_NETWORKS = ["127.0.0.0/8"]

    assert http.check_url("http://127.0.0.1:9/hook", webhook=True)
    with pytest.raises(http.UnsafeURLError, match="BOTADMIN_ALLOW_PRIVATE_URLS"):
        http.check_url("http://127.0.0.1:9/image.png")
    with pytest.raises(http.UnsafeURLError, match="BOTADMIN_WEBHOOK_NETWORKS"):
        http.check_url("http://10.0.0.5/hook", webhook=True)


@pytest.mark.parametrize(
    ("listed", "host"),
    [
        ("169.254.0.0/16", "169.254.169.254"),  # the cloud metadata service
        ("169.254.169.254/32", "169.254.169.254"),
        ("::ffff:0:0/96", "[::ffff:a9fe:a9fe]"),  # the same, IPv4-mapped
        ("fe80::/10", "[fe80::1]"),
        ("0.0.0.0/8", "0.0.0.0"),  # connects to this host
        ("::/128", "[::]"),
    ],
)
def test_link_local_and_unspecified_addresses_are_refused_to_webhooks_even_when_listed(
    settings, listed, host
):
    """The console shows bot admins a receiver's answers: 169.254.169.254's would be the
    cloud's credentials."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_WEBHOOK_NETWORKS = [listed]

    with pytest.raises(http.UnsafeURLError, match="no webhook may reach"):
        http.check_url(f"http://{host}/latest/meta-data/", webhook=True)
    with pytest.raises(http.UnsafeURLError, match="no webhook may reach"):
        http.request("POST", f"http://{host}/latest/meta-data/", webhook=True)


def test_the_metadata_address_is_refused_to_webhooks_without_pointing_at_the_setting(settings):
    """Listing its network would not help, so the refusal does not suggest it."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_WEBHOOK_NETWORKS = []

    with pytest.raises(http.UnsafeURLError, match="no webhook may reach") as refused:
        http.check_url("http://169.254.169.254/latest", webhook=True)
    assert "BOTADMIN_WEBHOOK_NETWORKS" not in str(refused.value)


def test_a_listed_loopback_network_still_lets_a_webhook_reach_a_receiver_there(settings, receiver):
    """Same-host receivers (and the tests' own) sit on 127.0.0.1."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_WEBHOOK_NETWORKS = ["127.0.0.0/8"]

    response = http.request("POST", receiver.url("/hook"), json={}, webhook=True)

    assert response.ok and receiver.requests[0].path == "/hook"
