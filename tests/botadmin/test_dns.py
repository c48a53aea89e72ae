"""botadmin/dns.py: a name lookup ends in time however long the resolver takes, and a
hung resolver holds a bounded number of threads."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from botadmin import dns
from tests.namespaces import OUTBOUND_HTTP_SETTINGS, run_in_own_network
from tests.polling import wait_until


@pytest.fixture
def release():
    """An event the blocking calls wait for; set at the end so their threads finish."""
    event = threading.Event()
    yield event
    event.set()


def test_a_call_that_finishes_in_time_gives_its_result_or_its_error():
    calls = dns.BoundedCalls(2, "test-calls")

    def refused():
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert calls.call("a", lambda: 42, timeout=5) == 42
    with pytest.raises(socket.gaierror, match="not known"):
        calls.call("b", refused, timeout=5)


def test_a_call_that_blocks_ends_for_its_caller_at_the_timeout(release):
    calls = dns.BoundedCalls(2, "test-calls")
    started = time.monotonic()

    with pytest.raises(dns.TimedOut):
        calls.call("slow", release.wait, timeout=0.2)

    assert 0.2 <= time.monotonic() - started < 1


def test_callers_of_a_call_still_running_wait_for_it_instead_of_starting_another(release):
    calls = dns.BoundedCalls(4, "test-calls")
    runs = []

    def slow_lookup():
        runs.append(1)
        release.wait()
        return "answer"

    with pytest.raises(dns.TimedOut):
        calls.call("hung.example", slow_lookup, timeout=0.1)
    with pytest.raises(dns.TimedOut):
        calls.call("hung.example", slow_lookup, timeout=0.1)
    assert len(runs) == 1

    release.set()  # the run ends: the next caller starts a new one
    assert wait_until(lambda: not calls.running, 30)
    assert calls.call("hung.example", slow_lookup, timeout=5) == "answer"
    assert len(runs) == 2


def test_blocked_calls_hold_the_pools_threads_and_no_more(release):
    calls = dns.BoundedCalls(2, "test-bounded")
    started = []

    def blocking(name):
        started.append(name)
        release.wait()

    for number in range(20):
        with pytest.raises(dns.TimedOut):
            calls.call(f"name-{number}", lambda n=number: blocking(n), timeout=0.05)

    threads = [t for t in threading.enumerate() if t.name == "test-bounded"]
    assert len(threads) == 2 and len(started) == 2
    release.set()
    # The calls whose callers gave up while they waited for a thread never run.
    assert calls.call("after", lambda: "free again", timeout=5) == "free again"
    assert len(started) == 2
    assert wait_until(lambda: not calls.running, 30)


def test_a_forked_child_looks_names_up_on_threads_of_its_own():
    """A prefork pool child has none of its parent's threads: the pool the parent
    started must not be one the child waits on."""
    assert dns.lookup("127.0.0.1", 80, timeout=5)  # the parent's threads are running

    child = os.fork()
    if child == 0:  # pragma: no cover - reported through the exit status
        try:
            dns.lookup("127.0.0.2", 80, timeout=2)
        except dns.TimedOut:
            os._exit(1)
        except BaseException:
            os._exit(2)
        os._exit(0)

    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


# Run inside a mount and network namespace of its own: /etc/resolv.conf names a resolver
# on this namespace's 127.0.0.1 that receives every query and answers none.
SILENT_RESOLVER = """
import json, socket, sys, threading, time
resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
resolver.bind(("127.0.0.1", 53))

from botadmin import http

def timed(call):
    started = time.monotonic()
    try:
        call()
        outcome = "answered"
    except Exception as error:
        outcome = type(error).__name__ + ": " + str(error)
    return {"outcome": outcome, "seconds": time.monotonic() - started}

seen = {"plain": timed(lambda: socket.getaddrinfo("plain.example.test", 80))}
seen["checks"] = [
    timed(lambda n=n: http.check_url(f"https://hook-{n}.example.test/in")) for n in range(6)
]
seen["request"] = timed(lambda: http.request("POST", "https://other.example.test/in"))
seen["threads"] = sum(t.name == "dns-lookup" for t in threading.enumerate())
# Given more time than the resolver takes: its own "try again later" is retried too.
settings.BOTADMIN_DNS_TIMEOUT = 10
seen["patient"] = timed(lambda: http.check_url("https://patient.example.test/in"))
print(json.dumps(seen))
"""


def test_a_resolver_that_never_answers_fails_the_check_in_time_and_retryably(tmp_path):
    """A real glibc resolver asking a name server that never answers: getaddrinfo alone
    waits the resolver's timeout; the URL check gives up after BOTADMIN_DNS_TIMEOUT."""
    seen = run_in_own_network(
        tmp_path,
        SILENT_RESOLVER,
        resolv_conf="nameserver 127.0.0.1\noptions timeout:3 attempts:1\n",
        django_settings={**OUTBOUND_HTTP_SETTINGS, "BOTADMIN_DNS_TIMEOUT": 0.5},
    )

    assert seen["plain"]["seconds"] >= 2.9  # the resolver really is that slow
    for check in seen["checks"]:
        assert check["outcome"].startswith("ResolveTimeout: cannot resolve hook-")
        assert check["outcome"].endswith(".example.test within 0.5 s")
        assert 0.5 <= check["seconds"] < 1.5
    assert seen["request"]["outcome"].startswith("ResolveTimeout")
    assert seen["threads"] == dns.POOL_SIZE  # seven hung names, four threads
    assert seen["patient"]["outcome"] == (
        "ResolveTimeout: cannot resolve patient.example.test for now: the DNS server gave no answer"
    )
