"""With the cache server (Redis in production) down or hung, operators still log
in, read the console's pages and log out: the cache only saves work, and the
sessions' copy of record is the database."""

import time

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from botadmin import sessions
from tests.polling import wait_until

LOGIN = reverse("console:login")


def console_pages(bot, group) -> list[str]:
    return [
        reverse("console:index"),
        reverse("console:dashboard"),
        reverse("console:conversations", args=[bot.pk]),
        reverse("console:history", args=[bot.pk, group.pk]),
        reverse("console:history_updates", args=[bot.pk, group.pk]),
        reverse("console:audit"),
        reverse("console:operator_actions"),
        reverse("console:search") + "?q=hi",
        reverse("announcements:compose") + f"?bot={bot.pk}",  # counts the conversations
    ]


def open_page(client, url) -> int:
    return client.get(url, follow=True).status_code  # the index leads to a bot's conversations


def log_in(client, password="pw-alice"):
    return client.post(LOGIN, {"username": "alice", "password": password}, follow=True)


@pytest.fixture
def alice(make_operator, bot, group, make_message):
    make_message(group, "in", "hi")
    make_message(group, "out", "hi there")
    return make_operator("alice", bot)  # password "pw-alice"


def test_an_operator_logs_in_reads_every_page_and_logs_out_while_the_cache_is_down(
    cache_down, client, alice, bot, group, settings, caplog
):
    settings.BOTADMIN_LOGIN_FAILURE_LIMIT = 10

    assert log_in(client).wsgi_request.user == alice
    statuses = {url: open_page(client, url) for url in console_pages(bot, group)}
    logged_out = client.post(reverse("console:logout"), follow=True)

    assert statuses == dict.fromkeys(statuses, 200)
    assert not logged_out.wsgi_request.user.is_authenticated
    assert not Session.objects.exists()  # logging out ended the session in the database
    assert client.get(reverse("console:dashboard")).status_code == 302  # to the login page
    assert "cache" in caplog.text and "pw-alice" not in caplog.text


def test_a_session_ended_while_the_cache_was_down_stays_ended_once_it_is_back(
    client, alice, settings, dead_cache, monkeypatch
):
    """Its copy in the cache, which the cache could not forget, expires soon."""
    monkeypatch.setattr(sessions, "COPY_SECONDS", 1)
    log_in(client)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get(reverse("console:dashboard")).status_code == 200  # read from the cache
    working_cache = settings.CACHES

    settings.CACHES = dead_cache
    client.post(reverse("console:logout"))
    settings.CACHES = working_cache
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie  # kept by someone

    assert not Session.objects.exists()
    assert wait_until(lambda: client.get(reverse("console:dashboard")).status_code == 302, 30)


def test_wrong_passwords_are_not_counted_while_the_cache_is_down(
    cache_down, client, alice, settings, caplog
):
    settings.BOTADMIN_LOGIN_FAILURE_LIMIT = 3

    refused = [log_in(client, "guess") for _ in range(5)]
    accepted = log_in(client)

    assert all(not r.wsgi_request.user.is_authenticated for r in refused)
    assert accepted.wsgi_request.user == alice
    assert "unreachable" in caplog.text


def test_a_hung_cache_delays_the_console_by_its_timeout_only(hung_cache, client, alice, bot, group):
    pages = console_pages(bot, group)

    start = time.monotonic()
    log_in(client)
    statuses = [open_page(client, url) for url in pages * 3]
    took = time.monotonic() - start

    assert statuses == [200] * len(statuses)
    # One timeout (1 s) and then the process stops asking the cache for a while; a
    # timeout on every page would take at least a second per page (27 s), one per cache
    # call about a minute. The margin between is for a loaded machine (16 s seen).
    assert 1 <= took < len(statuses)


def test_a_wecom_app_bots_page_says_its_daily_use_is_unknown_while_the_cache_is_down(
    cache_down, operator_client, operator, make_bot
):
    bot = make_bot(
        name="hr",
        connector="wecom_app",
        agent_url="",
        agent_token="",
        connector_settings={"corp_id": "ww1", "agent_id": "2", "licensed_accounts": 10},
    )
    bot.operators.add(operator)

    page = operator_client.get(reverse("console:bot", args=[bot.pk]))

    assert page.status_code == 200
    assert "今日用量未知：缓存不可用" in page.content.decode()
