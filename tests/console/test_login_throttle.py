"""Wrong passwords slow an attacker down: by user name and by address, with a clear message."""

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


def test_the_user_name_is_locked_from_every_address(client, alice):
    for number in range(10):
        log_in(client, "alice", "guess", address=f"198.51.100.{number}")
    assert not logged_in(log_in(client, "alice", "pw-alice", address="192.0.2.1"))


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
