"""Wrong passwords slow an attacker down: by user name and by address, with a clear message."""

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

LOGIN = reverse("console:login")


@pytest.fixture(autouse=True)
def throttled(settings, db):
    settings.BOTADMIN_LOGIN_FAILURE_LIMIT = 10
    settings.BOTADMIN_LOGIN_LOCKOUT_MINUTES = 15
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(make_operator, bot):
    return make_operator("alice", bot)  # password "pw-alice"


def log_in(client, username, password, address="203.0.113.7", **extra):
    return client.post(
        LOGIN,
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        follow=True,
        **extra,
    )


def logged_in(response) -> bool:
    return response.wsgi_request.user.is_authenticated


@time_machine.travel("2026-06-01 10:00:00+08:00", tick=False)
def test_forty_wrong_passwords_then_the_right_one_is_refused_and_says_when_to_retry(client, alice):
    for _ in range(40):
        assert not logged_in(log_in(client, "alice", "guess"))

    response = log_in(client, "alice", "pw-alice")

    assert not logged_in(response)
    page = response.content.decode()
    assert "登录失败次数过多" in page and "15 分钟" in page and "10:15" in page


def test_the_right_password_works_again_once_the_lockout_is_over(client, alice):
    with time_machine.travel("2026-06-01 10:00:00+08:00", tick=False) as clock:
        for _ in range(10):
            log_in(client, "alice", "guess")
        assert not logged_in(log_in(client, "alice", "pw-alice"))
        clock.shift(14 * 60)
        assert "1 分钟" in log_in(client, "alice", "pw-alice").content.decode()
        clock.shift(61)
        assert logged_in(log_in(client, "alice", "pw-alice"))


def test_a_user_name_is_locked_from_the_guessing_address_only(client, alice):
    """A stranger guessing alice's password cannot lock alice out from her own desk."""
    for _ in range(10):
        log_in(client, "alice", "guess", address="198.51.100.9")

    assert not logged_in(log_in(client, "alice", "pw-alice", address="198.51.100.9"))
    assert logged_in(log_in(client, "alice", "pw-alice", address="192.0.2.1"))


def test_guesses_spread_over_addresses_are_each_counted_by_their_address(client, alice):
    for number in range(10):
        log_in(client, "alice", "guess", address=f"198.51.100.{number}")
    assert logged_in(log_in(client, "alice", "pw-alice", address="198.51.100.3"))


@pytest.mark.parametrize(
    ("guesser", "same_client", "other_client"),
    [
        # One /64 is one client: a host there can pick any of its 2**64 addresses.
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:3::1"),
        # An IPv4 client seen by a dual-stack listener is the IPv4 address.
        ("::ffff:198.51.100.7", "198.51.100.7", "198.51.100.8"),
    ],
)
def test_an_ipv6_client_is_its_64_and_a_mapped_ipv4_one_its_ipv4_address(
    client, alice, settings, guesser, same_client, other_client
):
    settings.BOTADMIN_LOGIN_FAILURE_LIMIT = 1  # three from one client, for any names
    for number in range(3):
        log_in(client, f"user{number}", "guess", address=guesser)

    refused = log_in(client, "alice", "pw-alice", address=same_client)

    assert not logged_in(refused)
    assert "登录失败次数过多" in refused.content.decode()
    assert logged_in(log_in(client, "alice", "pw-alice", address=other_client))


@time_machine.travel("2026-06-01 10:00:00+08:00", tick=False)
def test_the_message_says_how_long_in_english_too(client, alice, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for _ in range(10):
        log_in(client, "alice", "guess")

    page = log_in(client, "alice", "pw-alice").content.decode()

    assert (
        "Too many failed log-ins from your network address. "
        "Log-in is locked for 15 more minutes: try again after 10:15." in page
    )


def test_one_address_trying_many_user_names_is_locked_for_every_user_name(client, alice, settings):
    settings.BOTADMIN_LOGIN_FAILURE_LIMIT = 2  # six from one address
    for number in range(6):
        log_in(client, f"user{number}", "guess")
    assert not logged_in(log_in(client, "alice", "pw-alice"))
    assert logged_in(log_in(client, "alice", "pw-alice", address="192.0.2.1"))


def test_a_successful_log_in_forgets_the_user_names_earlier_failures(client, alice, settings):
    settings.BOTADMIN_LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        log_in(client, "alice", "guess")
    assert logged_in(log_in(client, "alice", "pw-alice"))
    client.logout()
    for _ in range(2):
        log_in(client, "alice", "guess")
    assert logged_in(log_in(client, "alice", "pw-alice"))


def test_the_admin_login_is_throttled_too(client, superuser):
    for _ in range(10):
        client.post(reverse("admin:login"), {"username": "root", "password": "guess"})
    response = client.post(
        reverse("admin:login"), {"username": "root", "password": "pw-root-123456"}, follow=True
    )
    assert not logged_in(response)
    assert "登录失败次数过多" in response.content.decode()


def fail_three_names(client, address: str, forwarded_for: str) -> None:
    """Three wrong passwords for three user names, each `forwarded_for` a new {number}."""
    for number in range(3):
        client.post(
            LOGIN,
            {"username": f"user{number}", "password": "guess"},
            REMOTE_ADDR=address,
            HTTP_X_FORWARDED_FOR=forwarded_for.format(number=number),
            secure=True,
        )


def test_behind_a_trusted_proxy_the_address_is_the_one_the_proxy_saw(client, alice, settings):
    settings.BOTADMIN_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/24"]
    settings.BOTADMIN_LOGIN_FAILURE_LIMIT = 1  # three from one address
    # A load balancer, then nginx on 10.0.0.7; what the client wrote comes first.
    fail_three_names(client, "10.0.0.2", "198.51.100.{number}, 203.0.113.9, 10.0.0.7")
    forwarded = {"HTTP_X_FORWARDED_FOR": "203.0.113.9, 10.0.0.7"}
    throttled_client = log_in(client, "alice", "pw-alice", address="10.0.0.2", **forwarded)
    assert not logged_in(throttled_client)
    other_client = log_in(client, "alice", "pw-alice", address="10.0.0.2")
    assert logged_in(other_client)


def test_a_client_not_behind_a_trusted_proxy_cannot_pick_its_address(client, alice, settings):
    """Reaching gunicorn directly, it sends an X-Forwarded-For of its choosing each time."""
    settings.BEHIND_HTTPS_PROXY = True
    settings.BOTADMIN_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.BOTADMIN_LOGIN_FAILURE_LIMIT = 1  # three from one address
    fail_three_names(client, "203.0.113.9", "198.51.100.{number}")

    forwarded = {"HTTP_X_FORWARDED_FOR": "198.51.100.77", "secure": True}
    assert not logged_in(log_in(client, "alice", "pw-alice", address="203.0.113.9", **forwarded))


class Browser:
    """Logs in to a live server over real HTTP as a browser would (its CSRF cookie and
    token), reaching it through a proxy on 127.0.0.1 that names the client
    (X-Forwarded-For, believed from BOTADMIN_TRUSTED_PROXIES' default)."""

    def __init__(self, base_url: str, client_address: str):
        self.base_url, self.client_address = base_url, client_address
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def log_in(self, username: str, password: str) -> tuple[bool, str]:
        """(logged in, the page answered)."""
        form = self._open(f"{self.base_url}{LOGIN}").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token}
        ).encode()
        answer = self._open(f"{self.base_url}{LOGIN}", body)
        return not answer.url.endswith(LOGIN), answer.read().decode()

    def _open(self, url: str, body: bytes | None = None):
        request = urllib.request.Request(
            url, data=body, headers={"X-Forwarded-For": self.client_address}
        )
        return self.opener.open(request, timeout=30)


@pytest.mark.django_db(transaction=True)
def test_over_http_an_ipv6_64_is_throttled_and_told_how_long(live_server, alice, settings):
    settings.BOTADMIN_LOGIN_FAILURE_LIMIT = 2  # six from one client, for any names
    guesser = Browser(live_server.url, "2001:db8:7:7::1")
    for number in range(6):
        assert guesser.log_in(f"user{number}", "guess")[0] is False

    # Another address of the same /64, and the right password.
    logged_in, page = Browser(live_server.url, "2001:db8:7:7::beef").log_in("alice", "pw-alice")

    assert logged_in is False
    assert re.search(r"登录已锁定，还需 1[45] 分钟：请在 \d\d:\d\d 之后再试", page), page
    assert Browser(live_server.url, "2001:db8:7:8::1").log_in("alice", "pw-alice")[0] is True
