"""Running a script in a network of its own: a mount and network namespace with only a
loopback interface (up) and an /etc/resolv.conf of the test's choosing, so a name server
on its 127.0.0.1 (`serve_names`, started by the script) answers the system resolver
(glibc's getaddrinfo) as the test says. Needs root and unshare; the test is skipped,
saying why, where they are missing."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from devtools.processes import ROOT

# What botadmin.http reads, with URL checks on; BOTADMIN_DNS_TIMEOUT is the test's to give.
OUTBOUND_HTTP_SETTINGS = {
    "BOTADMIN_ALLOW_PRIVATE_URLS": False,
    "BOTADMIN_HTTP_CONNECT_TIMEOUT": 5,
    "BOTADMIN_HTTP_READ_TIMEOUT": 5,
    "BOTADMIN_HTTP_MAX_RESPONSE_BYTES": 1024,
}


def run_in_own_network(
    tmp_path, script: str, *, resolv_conf: str, setup: str = "", django_settings: dict
) -> dict:
    """Runs the Python `script` there with Django configured by `django_settings`, after
    the shell commands `setup` (e.g. `ip addr add` for more local addresses), and returns
    the JSON its last line printed."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare for a network and name server of its own")
    (tmp_path / "resolv.conf").write_text(resolv_conf)
    configure = f"from django.conf import settings\nsettings.configure(**{django_settings!r})\n"
    (tmp_path / "script.py").write_text(configure + script)
    commands = [
        "ip link set lo up",
        *([setup] if setup else []),
        f"mount --bind {tmp_path / 'resolv.conf'} /etc/resolv.conf",
        f"exec {sys.executable} {tmp_path / 'script.py'}",
    ]
    result = subprocess.run(
        [unshare, "--mount", "--net", "sh", "-c", " && ".join(commands)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode and "unshare failed" in result.stderr:
        pytest.skip(f"no namespaces here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- In the script: a name server --------------------------------------------------------

NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3
A = 1  # the query type of an IPv4 address


def a_record(address: str) -> bytes:
    """An answer record giving the question's name (by pointer) the IPv4 `address`."""
    return struct.pack("!HHHIH", 0xC00C, A, 1, 0, 4) + socket.inet_aton(address)


def serve_names(answer: Callable[[str, int], tuple[int, list[bytes]]]) -> None:
    """Answer DNS queries on this network's 127.0.0.1 port 53 (UDP), on a daemon thread:
    `answer(name, qtype)` gives the reply's code and its answer records."""
    name_server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    name_server.bind(("127.0.0.1", 53))

    def reply(query: bytes) -> bytes:
        end, labels = 12, []
        while query[end]:
            labels.append(query[end + 1 : end + 1 + query[end]].decode())
            end += 1 + query[end]
        (qtype,) = struct.unpack("!H", query[end + 1 : end + 3])
        rcode, records = answer(".".join(labels).lower(), qtype)
        (query_id,) = struct.unpack("!H", query[:2])
        header = struct.pack("!HHHHHH", query_id, 0x8180 | rcode, 1, len(records), 0, 0)
        return header + query[12 : end + 5] + b"".join(records)

    def serve() -> None:
        while True:
            query, client = name_server.recvfrom(512)
            name_server.sendto(reply(query), client)

    threading.Thread(target=serve, daemon=True).start()
