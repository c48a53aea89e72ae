"""Fixtures shared by the whole suite.

Tests run against whatever DATABASE_URL / CELERY_BROKER_URL say: SQLite and
the filesystem broker by default, PostgreSQL and Redis in CI's second run.
"""

import os
import socket
import threading
from types import SimpleNamespace

import django.test.client
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.utils import translation

from botadmin import health
from botadmin.cache import forget_failures
from botadmin.request_body import Request
from botadmin.wakeups import forget_awaited
from conversations.models import Bot, Conversation
from conversations.secrets import generate_agent_token
from tests import fuzzing  # noqa: F401  (hypothesis profiles: quick, or HYPOTHESIS_PROFILE=ci)
from tests.browser import (
    assert_no_csp_violations,
    browser,  # noqa: F401  (a fixture for the browser tests)
    stop_chromium,
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A browser test fails for a Content-Security-Policy violation on its pages
    (tests/browser.py), whatever it asserted itself."""
    result = yield
    assert_no_csp_violations()
    return result


def pytest_sessionfinish(session):
    """The Chromium the browser tests of this process shared (tests/browser.py) ends with it."""
    stop_chromium()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's, and before it drops the test database, the connections the threads
    of /readyz and /metrics keep are closed: PostgreSQL refuses to drop a database in use."""
    yield
    health.close_thread_connections()


@pytest.fixture(scope="session", autouse=True)
def _test_client_builds_botadmins_requests():
    """The test client builds the request `botadmin.wsgi` builds (botadmin.request_body),
    not Django's: the query string read as UTF-8 whatever the body's charset says."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(django.test.client, "WSGIRequest", Request)
        yield


@pytest.fixture(autouse=True)
def _default_language():
    """The language an earlier test's request chose (ChosenLanguageMiddleware activates
    it on this thread, and nothing deactivates it) does not reach this test: without a
    request, botadmin speaks LANGUAGE_CODE."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """A test with a database starts with an empty shared cache: a Redis cache outlives
    the test's transaction, and pacing kept there by an earlier test (the robot's gap
    per robot key, which tests share) made a later delivery wait."""
    if not ({"db", "transactional_db"} & set(request.fixturenames)) and not (
        request.node.get_closest_marker("django_db")
    ):
        yield
        return
    request.getfixturevalue(
        "transactional_db" if "transactional_db" in request.fixturenames else "db"
    )
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _cache_failures_forgotten():
    """A cache failure of an earlier test (botadmin.cache.best_effort stops asking
    that cache for a few seconds) does not reach into this one."""
    forget_failures()


@pytest.fixture(autouse=True)
def _wake_ups_not_awaited():
    """A wake-up an earlier test published (and purged, or left to no worker) never starts:
    this process's publisher does not hold this test's wake-ups back for it
    (botadmin.wakeups, `drains`)."""
    forget_awaited()


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path_factory):
    """Fake agents and receivers listen on 127.0.0.1; tests of URL safety turn this off.

    Static files are served from the source folders: tests do not need collectstatic.
    """
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = True
    # Hashing a password takes a production hasher about half a second here, and
    # many tests create operators: Django's docs recommend a fast one for tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Every test client logs in from 127.0.0.1, and the failures would add up across
    # tests in a Redis cache: login throttling is off except where a test turns it on.
    settings.BOTADMIN_LOGIN_FAILURE_LIMIT = 0
    # No worker fetches media in most tests: image messages are forwarded at once,
    # without waiting for an archived copy (tests/messaging/test_media_*.py wait).
    settings.BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS = 0
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        # Each test's media archive starts empty (tests/media/ also run it against S3).
        "media": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path_factory.mktemp("media-archive")},
        },
    }


@pytest.fixture
def make_bot(db):
    counter = iter(range(1, 10_000))

    def make(**fields) -> Bot:
        fields.setdefault("name", f"bot-{next(counter)}")
        fields.setdefault("connector", "bridge")
        fields.setdefault("agent_url", "http://127.0.0.1:9")
        fields.setdefault("agent_token", generate_agent_token())
        return Bot.objects.create(**fields)

    return make


@pytest.fixture
def bot(make_bot) -> Bot:
    return make_bot(name="acme")


@pytest.fixture
def listless_bot(make_bot) -> Bot:
    """A bot whose connector cannot list contacts: a WeCom AI bot (no gateway needed)."""
    return make_bot(
        name="helper",
        connector="wecom_aibot",
        agent_url="",
        agent_token="",
        connector_settings={"bot_id": "b1", "bot_secret": "s"},
    )


@pytest.fixture
def make_conversation(db):
    def make(bot: Bot, conversation_id: str, **fields) -> Conversation:
        fields.setdefault("kind", Conversation.Kind.GROUP)
        fields.setdefault("name", conversation_id)
        return Conversation.objects.create(bot=bot, conversation_id=conversation_id, **fields)

    return make


@pytest.fixture
def group(bot, make_conversation) -> Conversation:
    return make_conversation(bot, "wrGroup1", name="销售群")


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="pw-root-123456")


@pytest.fixture
def make_operator(db):
    """A staff user with view/change rights on every botadmin model, scoped by bot."""

    def make(username: str, *bots: Bot):
        user = get_user_model().objects.create_user(
            username, password="pw-" + username, is_staff=True
        )
        user.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label__in=[
                    "conversations",
                    "messaging",
                    "announcements",
                    "forwarding",
                ]
            )
        )
        for bot in bots:
            bot.operators.add(user)
        return user

    return make


@pytest.fixture
def dead_cache() -> dict:
    """A CACHES setting naming a Redis nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
        }
    }


@pytest.fixture
def file_cache(tmp_path, settings) -> str:
    """A cache shared by this process and the servers it starts that needs no server (the
    default cache lives in the database, which a test may take away); its CACHE_URL."""
    folder = tmp_path / "cache"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(folder),
            "KEY_PREFIX": os.environ.get("PYTEST_XDIST_WORKER", ""),  # as settings.py sets it
        }
    }
    return f"filecache://{folder}"


@pytest.fixture
def cache_down(settings, dead_cache):
    """The cache server is down."""
    settings.CACHES = dead_cache


@pytest.fixture
def hung_cache(settings):
    """A Redis that accepts connections and never answers, with the timeouts
    botadmin.settings gives every Redis cache."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{listener.getsockname()[1]}/0",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        }
        yield


@pytest.fixture
def hung_resolver(settings, monkeypatch):
    """The system resolver hangs on names under `.hung.example` (as one whose name server
    never answers does), and BOTADMIN_DNS_TIMEOUT is short; URL checks are on.
    tests/botadmin/test_dns.py does the same with a real resolver and name server."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_DNS_TIMEOUT = 0.2
    release = threading.Event()
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".hung.example"):
            release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    release.set()  # the stuck lookups end, freeing botadmin.dns's threads


@pytest.fixture
def slow_resolver(settings, monkeypatch):
    """The system resolver takes its time over names under `.slow.example`, as a slow name
    server does: while it looks one up, `slow_resolver.meanwhile()` runs (what the test
    does meanwhile), then it answers 127.0.0.1; `lookups` counts them. URL checks are on
    (agents may be private), and BOTADMIN_DNS_TIMEOUT leaves the test its time."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_DNS_TIMEOUT = 30
    resolver = SimpleNamespace(meanwhile=lambda: None, lookups=0)
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".slow.example"):
            resolver.lookups += 1
            resolver.meanwhile()
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return resolver


@pytest.fixture
def unknown_names(monkeypatch):
    """The system resolver answers every name under `.invalid` (RFC 6761's name that never
    exists) "no such name", EAI_NONAME, as glibc does for a name server's NXDOMAIN,
    whatever the machine's own name servers would say. tests/botadmin/test_http_failures.py
    sees a real resolver asking a real name server do the same."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.rstrip(".").endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
