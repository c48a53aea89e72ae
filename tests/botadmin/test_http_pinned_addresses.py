"""botadmin/http.py: a request connects to the addresses its check approved, never to a
second DNS answer (rebinding), and still names its host in Host, TLS SNI and the
certificate check; an internationalised host is looked up and named in one encoding."""

from __future__ import annotations

import pytest
import requests

from botadmin import http
from botadmin.local_http import Answer, LocalServer
from botadmin.networks import parse_networks
from connectors import base as connectors_base
from devtools.receiver import Receiver
from tests.namespaces import OUTBOUND_HTTP_SETTINGS, run_in_own_network
from tests.outbound import Names, self_signed_certificate, tls_receiver

LOOPBACK = parse_networks(("127.0.0.0/8",))


@pytest.fixture
def names(monkeypatch) -> Names:
    return Names(monkeypatch)


@pytest.fixture
def receiver():
    with Receiver() as receiver:
        yield receiver


def test_the_connection_goes_to_the_address_the_check_approved_not_to_a_later_answer(
    receiver, names
):
    """DNS rebinding: the check is answered an allowed address, a second lookup would be
    answered one outside the networks. There is no second lookup."""
    names.answer("agent.rebind.example", ["127.0.0.1"], ["127.0.0.2"])
    only_this_one = parse_networks(("127.0.0.1/32",))

    url = f"http://agent.rebind.example:{receiver.port}/hook"
    response = http.request("POST", url, data="signed payload", networks=only_this_one)

    assert response.status == 200
    assert [r.body for r in receiver.requests] == [b"signed payload"]
    assert receiver.requests[0].headers["Host"] == f"agent.rebind.example:{receiver.port}"
    assert names.lookups["agent.rebind.example"] == 1


def test_the_approved_addresses_are_tried_in_their_order(receiver, names):
    names.answer("two.example", ["127.0.0.2", "127.0.0.1"])  # nothing listens on the first

    response = http.request("GET", f"http://two.example:{receiver.port}/", networks=LOOPBACK)

    assert response.status == 200 and len(receiver.requests) == 1


def test_when_no_approved_address_accepts_the_request_never_left(names):
    names.answer("closed.example", ["127.0.0.2", "127.0.0.3"])

    with pytest.raises(requests.ConnectionError, match="Failed to establish") as raised:
        http.request("POST", "http://closed.example:9/", networks=LOOPBACK, connect_timeout=1)

    assert connectors_base.never_connected(raised.value)


class KeptAlive(LocalServer):
    def __init__(self):
        super().__init__()
        self.clients: list[tuple] = []

    def handle(self, request) -> Answer:
        self.clients.append(request.client)
        return Answer(200, b"ok")


def test_a_kept_alive_connection_serves_the_next_requests(names):
    """Pinning happens when a connection is opened: requests to the same host share it."""
    with KeptAlive() as server:
        names.answer("agent.example", ["127.0.0.1"])
        for _ in range(3):
            url = f"http://agent.example:{server.port}/send"
            assert http.request("POST", url, data="x", networks=LOOPBACK).status == 200

    assert len(server.clients) == 3 and len(set(server.clients)) == 1
    assert names.lookups["agent.example"] == 3  # each request is still checked


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """An HTTPS receiver on 127.0.0.1 with a certificate for `name`, recording the SNI
    names it is asked for; this thread's checked session trusts that certificate."""
    servers = []

    def start(name: str, trusted: str) -> tuple[Receiver, list[str]]:
        server, sni, cert_file = tls_receiver(tmp_path, name)
        if trusted != name:
            cert_file, _ = self_signed_certificate(tmp_path, trusted)
        monkeypatch.setattr(http._session(False, LOOPBACK), "verify", cert_file)
        servers.append(server.start())
        return server, sni

    yield start
    for server in servers:
        server.stop()


def test_https_to_the_approved_address_names_the_host_in_sni_and_the_certificate_check(
    tls_server, names
):
    server, sni = tls_server("hooks.example.test", trusted="hooks.example.test")
    names.answer("hooks.example.test", ["127.0.0.1"], ["127.0.0.2"])

    url = f"https://hooks.example.test:{server.port}/in"
    response = http.request("POST", url, data="signed payload", networks=LOOPBACK)

    assert response.status == 200
    assert sni == ["hooks.example.test"]
    assert server.requests[0].headers["Host"] == f"hooks.example.test:{server.port}"
    assert names.lookups["hooks.example.test"] == 1


def test_https_to_the_approved_address_still_refuses_a_certificate_for_another_name(
    tls_server, names
):
    server, _ = tls_server("other.example.test", trusted="hooks.example.test")
    names.answer("hooks.example.test", ["127.0.0.1"])

    with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
        http.request("GET", f"https://hooks.example.test:{server.port}/", networks=LOOPBACK)
    assert server.requests == []


STRASSE = "xn--strae-oqa.example.test"  # straße.example.test in IDNA 2008


@pytest.mark.parametrize(
    "typed",
    [
        "straße.example.test",  # IDNA 2003 (Python's resolver) would look up strasse.…
        "STRAßE.Example.TEST",
        "straße。example。test",  # ideographic full stops
        "ｓｔｒａßｅ.example.test",  # full-width letters
    ],
)
def test_an_international_host_is_looked_up_and_named_as_the_same_idna_2008_name(
    receiver, names, typed
):
    names.answer(STRASSE, ["127.0.0.1"])

    url = f"http://{typed}:{receiver.port}/hook"
    response = http.request("POST", url, data="signed payload", networks=LOOPBACK)

    assert response.status == 200
    assert names.lookups == {STRASSE: 1}
    assert receiver.requests[0].headers["Host"] == f"{STRASSE}:{receiver.port}"


def test_https_to_an_international_host_names_it_in_sni_as_it_was_looked_up(tls_server, names):
    server, sni = tls_server(STRASSE, trusted=STRASSE)
    names.answer(STRASSE, ["127.0.0.1"])

    response = http.request("GET", f"https://Straße.example.test:{server.port}/", networks=LOOPBACK)

    assert response.status == 200
    assert sni == [STRASSE] and names.lookups == {STRASSE: 1}


@pytest.mark.parametrize(
    "host",
    [
        "ex\u200dample.test",  # a joiner, which IDNA 2003 dropped: it looked up example.test
        "\u0378bad.example.test",  # unassigned
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_a_host_with_no_idna_2008_form_is_refused_saying_so_before_anything_is_sent(
    receiver, host, allow_private
):
    url = f"http://{host}:{receiver.port}/hook"

    with pytest.raises(http.UnsafeURLError, match="is not a valid host name"):
        http.check_url(url, allow_private=allow_private)
    with pytest.raises(http.UnsafeURLError, match="is not a valid host name"):
        http.request("POST", url, data="x", allow_private=allow_private)
    assert receiver.requests == []


# Run in a network of its own (tests/namespaces.py): a name server on its 127.0.0.1 answers
# each name's first A query with the address the check should approve, and every later one
# with 127.0.0.1, where a second receiver waits on the same port.
REBINDING_NAME_SERVER = """
import json

from botadmin import http
from botadmin.networks import parse_networks
from devtools.receiver import Receiver
from tests.namespaces import A, NOERROR, a_record, serve_names

FIRST = {"hooks.rebind.test": "93.184.215.14", "agent.rebind.test": "192.0.2.10"}
a_queries = []

def answer(name, qtype):
    if qtype == A and name in FIRST:  # AAAA and the rest get no records
        address = "127.0.0.1" if name in a_queries else FIRST[name]
        a_queries.append(name)
        return NOERROR, [a_record(address)]
    return NOERROR, []

serve_names(answer)

public = Receiver(host="93.184.215.14").start()
port = public.port
agent = Receiver(host="192.0.2.10", port=port).start()
loopback = Receiver(port=port).start()

def outcome(call):
    try:
        return str(call().status)
    except Exception as error:
        return type(error).__name__ + ": " + str(error)

webhook = lambda: http.request("POST", f"http://hooks.rebind.test:{port}/hook", data="signed")
seen = {"webhook": outcome(webhook), "webhook again": outcome(webhook)}
seen["agent"] = outcome(
    lambda: http.request(
        "POST",
        f"http://agent.rebind.test:{port}/agent",
        data="for the agent",
        allow_private=True,
        networks=parse_networks(("192.0.2.0/24",)),
    )
)
seen["received"] = {
    "public": [r.path for r in public.requests],
    "agent": [r.path for r in agent.requests],
    "loopback": [r.path for r in loopback.requests],
}
seen["a queries"] = a_queries
print(json.dumps(seen))
"""


def test_a_name_server_that_rebinds_to_loopback_after_the_check_never_gets_a_request_there(
    tmp_path,
):
    """A real resolver (glibc) asking a name server that answers a public address, or one
    in BOTADMIN_AGENT_NETWORKS, to the check and 127.0.0.1 to any later query."""
    seen = run_in_own_network(
        tmp_path,
        REBINDING_NAME_SERVER,
        resolv_conf="nameserver 127.0.0.1\n",
        django_settings={**OUTBOUND_HTTP_SETTINGS, "BOTADMIN_DNS_TIMEOUT": 5},
        # The addresses answered first are this namespace's own, so they can be reached.
        setup="ip addr add 93.184.215.14/32 dev lo && ip addr add 192.0.2.10/32 dev lo",
    )

    assert seen["webhook"] == "200"
    assert seen["agent"] == "200"
    assert seen["received"] == {"public": ["/hook"], "agent": ["/agent"], "loopback": []}
    # The next check is answered 127.0.0.1 and refuses it before connecting.
    assert seen["webhook again"] == (
        "UnsafeURLError: hooks.rebind.test resolves to 127.0.0.1, a private or reserved "
        "address (set BOTADMIN_ALLOW_PRIVATE_URLS to allow it)"
    )
    # One lookup a request: connecting asked the name server nothing more.
    assert seen["a queries"] == ["hooks.rebind.test", "hooks.rebind.test", "agent.rebind.test"]
