"""botadmin's caches: the database one's incr() loses no count; the Redis one's incr()
counts only live keys and keeps their expiry, and its clear() empties only its own prefix."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from botadmin.cache import DatabaseCache, RedisCache


def test_concurrent_increments_of_the_database_cache_are_all_counted(transactional_db):
    call_command("createcachetable", "botadmin_cache")  # there already unless CACHE_URL is Redis
    cache = DatabaseCache("botadmin_cache", {})
    cache.set("counted", 0)

    def increment(_):
        try:
            for _ in range(50):
                cache.incr("counted")
        finally:
            connections.close_all()  # this thread's connection

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(increment, range(6)))

    assert cache.get("counted") == 300
    assert cache.decr("counted", 100) == 200


redis_only = pytest.mark.skipif(
    not settings.CACHES["default"]["BACKEND"].endswith("RedisCache"),
    reason="CACHE_URL is not a Redis",
)


@redis_only
def test_clearing_a_prefixed_redis_cache_leaves_other_prefixes_keys():
    location = settings.CACHES["default"]["LOCATION"]
    mine = RedisCache(location, {"KEY_PREFIX": "test-clear-mine"})
    other = RedisCache(location, {"KEY_PREFIX": "test-clear-other"})
    for n in range(2_500):  # more than one batch
        mine.set(f"k{n}", n)
    other.set("kept", 1)

    mine.clear()

    assert mine.get_many([f"k{n}" for n in range(2_500)]) == {}
    assert other.get("kept") == 1
    other.clear()
    assert other.get("kept") is None


def test_the_database_cache_increments_only_live_keys(db):
    call_command("createcachetable", "botadmin_cache")
    cache = DatabaseCache("botadmin_cache", {})
    with pytest.raises(ValueError):
        cache.incr("absent")
    cache.set("short", 5, timeout=1)
    assert cache.incr("short", 2) == 7 and cache.get("short") == 7
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        with pytest.raises(ValueError):
            cache.incr("short")  # expired: a counter starts again with add()
        assert cache.add("short", 1) and cache.incr("short") == 2


@redis_only
def test_the_redis_cache_increments_only_live_keys_and_keeps_their_expiry():
    cache = RedisCache(settings.CACHES["default"]["LOCATION"], {"KEY_PREFIX": "test-incr"})
    client = cache._cache.get_client(write=True)
    with pytest.raises(ValueError):
        cache.incr("absent")
    assert not client.exists(cache.make_key("absent"))  # not created by the attempt
    cache.set("counted", 0, timeout=60)

    def increment(_):
        for _ in range(50):
            cache.incr("counted")

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(increment, range(6)))

    assert cache.get("counted") == 300
    assert cache.decr("counted", 100) == 200
    assert 0 < client.ttl(cache.make_key("counted")) <= 60
    cache.clear()


@redis_only
def test_the_redis_cache_reuses_one_client_and_counts_on_after_redis_forgot_its_scripts():
    cache = RedisCache(settings.CACHES["default"]["LOCATION"], {"KEY_PREFIX": "test-client"})
    client = cache._cache.get_client(write=True)
    assert cache._cache.get_client("any key", write=True) is client
    cache.set("counted", 0, timeout=60)
    assert cache.incr("counted") == 1

    client.script_flush()  # as after a Redis restart: the script is loaded again
    assert cache.incr("counted") == 2
    cache.clear()
