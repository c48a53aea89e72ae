"""`migrate` waits for a database server that does not accept connections yet (at boot,
PostgreSQL on another host still starting), then migrates; or gives up once
BOTADMIN_DATABASE_WAIT_SECONDS have passed, saying why, and exits non-zero: the units
that Require= botadmin-migrate.service then stay down instead of starting on nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from urllib.parse import urlsplit

import pytest
from django.db import connection

from devtools.processes import ROOT, database_url
from tests.polling import wait_until

NOT_YET = "database not reachable yet ("


class LateDatabase:
    """A port on 127.0.0.1 that refuses connections (bound, not listening) until `open()`,
    then passes each connection on to `target`, the real database server."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.closed = threading.Event()

    def open(self) -> None:
        self.listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        for sock in [self.listener, *self.sockets]:
            sock.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the other side, or the test, closed it


def at_port(url: str, port: int) -> str:
    """`url` with its host and port replaced by 127.0.0.1:`port`."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return parts._replace(
        netloc=f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    ).geturl()


def start_migrate(url: str, wait_seconds: float) -> tuple[subprocess.Popen, list[str]]:
    """`manage.py migrate` with this DATABASE_URL, and the lines it prints so far (both
    streams, read as they come)."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": url,
            "BOTADMIN_DATABASE_WAIT_SECONDS": str(wait_seconds),
            "PYTHONUNBUFFERED": "1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    process.reader = reader  # type: ignore[attr-defined]
    return process, lines


def finish(process: subprocess.Popen, lines: list[str]) -> str:
    """Its whole output once it has exited (killed if still running after 120 s, the
    test's own safety: it never waits that long)."""
    try:
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    process.reader.join(timeout=10)  # type: ignore[attr-defined]
    return "".join(lines)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL server to wait for")
@pytest.mark.django_db(transaction=True)  # the test database, migrated by another process
def test_migrate_waits_for_the_database_to_accept_connections_then_migrates():
    settings = connection.settings_dict
    if (settings["HOST"] or "127.0.0.1").startswith("/"):
        pytest.skip("the test database is reached through a Unix socket")
    late = LateDatabase((settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)))
    try:
        migrate, lines = start_migrate(at_port(database_url(), late.port), wait_seconds=60)
        # It found nothing listening and says it will try again: now the server is up.
        assert wait_until(lambda: any(NOT_YET in line for line in lines), timeout=60), lines
        assert migrate.poll() is None
        late.open()
        output = finish(migrate, lines)
    finally:
        late.close()

    assert migrate.returncode == 0, output
    assert "Connection refused), retrying in" in output
    assert "No migrations to apply." in output


def test_migrate_gives_up_after_the_configured_wait_with_a_clear_message():
    nothing = LateDatabase(("127.0.0.1", 9))  # never opened: every attempt is refused
    try:
        url = f"postgres://botadmin:Pa55-not-shown@127.0.0.1:{nothing.port}/botadmin"
        migrate, lines = start_migrate(url, wait_seconds=2)
        output = finish(migrate, lines)
    finally:
        nothing.close()

    assert migrate.returncode == 1, output
    tried = [line for line in output.splitlines() if line.startswith(NOT_YET)]
    assert tried and all("Connection refused), retrying in" in line for line in tried), output
    assert output.rstrip().splitlines()[-1] == (
        f'CommandError: database still not reachable after 2 s (connection to server at "127.0.0.1",'
        f" port {nothing.port} failed: Connection refused): giving up. Is the database server"
        " running, and DATABASE_URL right? BOTADMIN_DATABASE_WAIT_SECONDS sets how long migrate"
        " waits."
    )
    assert "Pa55-not-shown" not in output
    assert "Traceback" not in output
