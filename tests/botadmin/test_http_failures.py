"""botadmin/http_failures.py: a failed request reads as words, never urllib3's wrapping, and
a host name that does not exist is told from a resolver that gave up for now, whoever
looked it up (the URL check, or urllib3 when nothing is checked)."""

from __future__ import annotations

import pytest
import requests

from botadmin import http, http_failures
from botadmin.networks import parse_networks
from devtools.receiver import Receiver
from tests.namespaces import OUTBOUND_HTTP_SETTINGS, run_in_own_network

# Run in a network of its own (tests/namespaces.py): a name server on its 127.0.0.1 answers
# names under gone.test "no such name" (NXDOMAIN), under empty.test "no records" (NOERROR
# without an answer) and under broken.test "server failure" (SERVFAIL), as real ones do.
# A real glibc resolver asks it; the request is made with URL checks on and off.
NAME_SERVER = """
import json

from botadmin import http, http_failures
from connectors.downloads import download_failure
from tests.namespaces import NOERROR, NXDOMAIN, SERVFAIL, serve_names

RCODES = {"gone.test": NXDOMAIN, "empty.test": NOERROR, "broken.test": SERVFAIL}

serve_names(lambda name, qtype: (next(c for z, c in RCODES.items() if name.endswith(z)), []))

def outcome(url, checked):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = not checked
    try:
        http.request("GET", url)
    except Exception as error:
        reason, again = download_failure(error, "image")
        return [http_failures.unknown_host(error), reason, again]
    return "answered"

print(json.dumps({
    f"{zone} {'checked' if checked else 'open'}": outcome(f"https://logo.{zone}/a.png", checked)
    for zone in RCODES
    for checked in (True, False)
}))
"""


def test_a_real_resolvers_no_such_name_fails_for_good_and_its_server_failure_is_retried(tmp_path):
    seen = run_in_own_network(
        tmp_path,
        NAME_SERVER,
        resolv_conf="nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        django_settings={**OUTBOUND_HTTP_SETTINGS, "BOTADMIN_DNS_TIMEOUT": 5},
    )

    for checked in ("checked", "open"):
        for zone in ("gone.test", "empty.test"):
            assert seen[f"{zone} {checked}"] == [
                f"logo.{zone}",
                f"the image's host name does not exist: logo.{zone}",
                False,
            ]
        unknown, reason, again = seen[f"broken.test {checked}"]
        assert unknown is None and again is True
        assert reason == (
            "cannot download the image: cannot resolve logo.broken.test for now: "
            "the DNS server gave no answer"
        )


@pytest.fixture
def closed_port() -> int:
    with Receiver() as receiver:
        return receiver.port


@pytest.mark.parametrize("checked", [True, False])
def test_a_refused_connection_reads_as_our_words_without_urllib3s(settings, closed_port, checked):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = not checked
    networks = parse_networks(("127.0.0.0/8",)) if checked else ()

    with pytest.raises(requests.ConnectionError) as raised:
        http.request("GET", f"http://127.0.0.1:{closed_port}/a.png", networks=networks)

    reason = http_failures.failure_reason(raised.value)
    assert reason == "127.0.0.1 refused the connection"
    assert "Pool" in str(raised.value) and "Errno" not in reason
    assert http_failures.unknown_host(raised.value) is None
