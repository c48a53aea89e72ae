"""Settings are read from the environment: check what a given environment yields."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from django.core.management import call_command

from messaging import delivery_pace

PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"),
    "port": db.get("PORT"), "user": db.get("USER"), "options": db.get("OPTIONS", {}),
    "broker": settings.CELERY_BROKER_URL,
    "transport_options": getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None),
    "time_zone": settings.TIME_ZONE, "language": settings.LANGUAGE_CODE,
    "debug": settings.DEBUG, "secret_key_set": bool(settings.SECRET_KEY),
    "secret_key_fallbacks": settings.SECRET_KEY_FALLBACKS,
    "cache_options": settings.CACHES["default"].get("OPTIONS", {}),
    "cache_backend": settings.CACHES["default"]["BACKEND"],
}))
"""


def settings_under(tmp_path, **env) -> dict:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DEBUG")
    }
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "botadmin.settings", "BOTADMIN_VAR_DIR": str(tmp_path)}, **env
    )
    out = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_defaults_need_no_server(tmp_path):
    s = settings_under(tmp_path)
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["name"] == str(tmp_path / "botadmin.sqlite3")
    assert "journal_mode=WAL" in s["options"]["init_command"]
    assert s["options"]["timeout"] >= 5
    assert s["broker"] == "filesystem://localhost/"
    assert s["transport_options"]["data_folder_in"].startswith(str(tmp_path))
    assert s["time_zone"] == "Asia/Shanghai" and s["language"] == "zh-hans"
    assert s["debug"] is False


def test_secret_key_is_generated_once_into_var(tmp_path):
    settings_under(tmp_path)
    key = (tmp_path / "secret_key").read_text()
    settings_under(tmp_path)
    assert (tmp_path / "secret_key").read_text() == key
    assert len(key) >= 50


def test_former_secret_keys_are_read_as_a_comma_separated_list(tmp_path):
    assert settings_under(tmp_path)["secret_key_fallbacks"] == []
    rotated = settings_under(tmp_path, SECRET_KEY="new", SECRET_KEY_FALLBACKS="old-1,old-2")
    assert rotated["secret_key_fallbacks"] == ["old-1", "old-2"]


@pytest.mark.parametrize(
    "url, expected",
    [
        (
            "postgres://postgres@127.0.0.1:5432/test",
            ("django.db.backends.postgresql", "test", "127.0.0.1", 5432),
        ),
        (
            "postgresql://bot:pw@db.internal:6543/botadmin",
            ("django.db.backends.postgresql", "botadmin", "db.internal", 6543),
        ),
        (
            "sqlite:////tmp/other.sqlite3",
            ("django.db.backends.sqlite3", "/tmp/other.sqlite3", "", ""),
        ),
    ],
)
def test_database_url_selects_the_database(tmp_path, url, expected):
    s = settings_under(tmp_path, DATABASE_URL=url)
    assert (s["engine"], s["name"], s["host"] or "", s["port"] or "") == expected


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672//"])
def test_broker_url_selects_the_broker(tmp_path, url):
    s = settings_under(tmp_path, CELERY_BROKER_URL=url)
    assert s["broker"] == url
    # No filesystem folders; Redis gets socket timeouts so a hung broker cannot block a request.
    assert "data_folder_in" not in (s["transport_options"] or {})


def test_debug_is_off_unless_asked(tmp_path):
    assert settings_under(tmp_path, DEBUG="1")["debug"] is True
    assert settings_under(tmp_path, DEBUG="false")["debug"] is False


def test_a_redis_cache_gives_up_after_a_second_unless_the_url_says_otherwise(tmp_path):
    options = settings_under(tmp_path, CACHE_URL="redis://127.0.0.1:6379/1")["cache_options"]
    assert options == {"socket_connect_timeout": 1, "socket_timeout": 1}
    chosen = settings_under(tmp_path, CACHE_URL="redis://127.0.0.1:6379/1?socket_timeout=5")
    assert chosen["cache_options"] == {"socket_timeout": 5, "socket_connect_timeout": 1}


@pytest.mark.parametrize("url", [None, "dbcache://botadmin_cache"])
def test_the_database_cache_is_the_one_whose_incr_loses_no_count(tmp_path, url):
    env = {"CACHE_URL": url} if url else {}
    assert settings_under(tmp_path, **env)["cache_backend"] == "botadmin.cache.DatabaseCache"


def test_the_default_database_cache_keeps_every_gap_key_of_a_large_announcement(
    tmp_path, db, settings
):
    # Django's DatabaseCache kept 300 entries and culled the rest: a third of the gap
    # keys were gone again and again, and their conversations were sent to too soon.
    default = settings_under(tmp_path)  # what the default CACHE_URL yields
    call_command("createcachetable", "botadmin_cache")  # there already unless CACHE_URL is Redis
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": default["cache_backend"],
            "LOCATION": "botadmin_cache",
            "OPTIONS": default["cache_options"],
        },
    }
    sent = {f"wrGroup{n}": 1.0 for n in range(1000)}  # conversation → its gap (s)
    now = time.time()

    delivery_pace.note_conversation_sends(sent, now)

    assert delivery_pace.conversation_waits(sent, now + 0.25) == pytest.approx(
        dict.fromkeys(sent, 0.75)
    )


def test_the_database_cache_url_may_set_its_own_limits(tmp_path):
    url = "dbcache://botadmin_cache?max_entries=500000&cull_frequency=4"
    options = settings_under(tmp_path, CACHE_URL=url)["cache_options"]
    assert options == {"MAX_ENTRIES": 500_000, "CULL_FREQUENCY": 4}


def test_postgresql_connections_give_up_after_five_seconds_unless_the_url_says_otherwise(tmp_path):
    url = "postgres://u:p@db.example:5432/botadmin"
    assert settings_under(tmp_path, DATABASE_URL=url)["options"]["connect_timeout"] == 5
    chosen = settings_under(tmp_path, DATABASE_URL=url + "?connect_timeout=2")
    assert int(chosen["options"]["connect_timeout"]) == 2


def test_a_database_server_that_never_answers_fails_the_connection_in_time(tmp_path):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts TCP, never speaks
    try:
        port = silent.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE="botadmin.settings",
            BOTADMIN_VAR_DIR=str(tmp_path),
            DATABASE_URL=f"postgres://u:p@127.0.0.1:{port}/botadmin?sslmode=disable",
        )
        connect = (
            "import django; django.setup()\n"
            "from django.db import connection\n"
            "try:\n    connection.ensure_connection()\n"
            "except Exception as error:\n    print(type(error).__name__)\n"
        )
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-c", connect], env=env, capture_output=True, text=True, timeout=60
        )
        took = time.monotonic() - started
    finally:
        silent.close()
    assert out.stdout.strip() == "OperationalError", out.stderr
    assert took < 20  # the default 5 s plus start-up; without it, hung until the 60 s kill
