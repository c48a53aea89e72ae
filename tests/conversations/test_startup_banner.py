"""`manage.py startup_banner`, `make run`'s last word: the URL to open, once the web server
answers there."""

from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command


@pytest.fixture
def banner(live_server, monkeypatch):
    """The banner for the web server of `live_server` (on 127.0.0.1), listening on `host`."""
    port = urlsplit(live_server.url).port

    def shown(host: str) -> tuple[str, str]:
        monkeypatch.setenv("HOST", host)
        monkeypatch.setenv("PORT", str(port))
        out, err = StringIO(), StringIO()
        call_command("startup_banner", "--wait-seconds", "20", stdout=out, stderr=err)
        (running,) = [line for line in out.getvalue().splitlines() if "is running" in line]
        assert not err.getvalue()  # it answered where the banner asked
        return running, str(port)

    return shown


def test_on_every_interface_the_banner_shows_the_name_allowed_hosts_lets_through(banner, settings):
    """`make run HOST=0.0.0.0 ALLOWED_HOSTS=vm.example.com` on a remote VM showed
    http://127.0.0.1:8000/, which the browser on the laptop cannot open."""
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", ".internal", "vm.example.com", "192.0.2.10"]

    running, port = banner("0.0.0.0")

    assert running == f"botadmin is running: http://vm.example.com:{port}/"


def test_on_every_interface_without_a_name_the_banner_shows_this_machine(banner, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

    running, port = banner("::")

    assert running == f"botadmin is running: http://127.0.0.1:{port}/"


def test_on_one_address_the_banner_shows_that_address(banner):
    running, port = banner("127.0.0.1")

    assert running == f"botadmin is running: http://127.0.0.1:{port}/"
