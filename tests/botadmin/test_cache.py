"""botadmin's database cache: Django's, with an incr() that loses no count."""

from concurrent.futures import ThreadPoolExecutor

from django.core.management import call_command
from django.db import connections

from botadmin.cache import DatabaseCache


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
