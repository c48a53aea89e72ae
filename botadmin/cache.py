"""Django's cache backends with two fixes: a database `incr()` that counts every
request, and a Redis `clear()` that leaves other prefixes' keys alone.

DatabaseCache:

Django's `DatabaseCache.incr` is `get()` then `set()`: two requests that read
the same value both write value + 1 and one count is lost. The send rate limit
(`messaging.ratelimit`) counts with `incr`, and with the stock backend 1,000
concurrent requests against a limit of 600 got 793 and 918 accepted.

Here the read and the write happen in one transaction that holds the row:
`SELECT … FOR UPDATE` on databases that have it (PostgreSQL, MySQL), and on
SQLite the transaction itself, which botadmin opens IMMEDIATE (settings.py), so
it holds the database's write lock from its start. Concurrent `incr`s of one
key queue on that lock instead of overwriting each other. Redis needs none of
this: its `INCR` is atomic.

RedisCache: Django's `clear()` is FLUSHDB, which empties the whole Redis
database, also the keys of any other KEY_PREFIX in it (another botadmin, or
the other processes of a parallel test run). With a KEY_PREFIX it deletes only
the keys under that prefix.
"""

import re

from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.db import connections, router, transaction


class DatabaseCache(DjangoDatabaseCache):
    def incr(self, key, delta=1, version=None):
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        with transaction.atomic(using=db):
            if connection.features.has_select_for_update:
                quote_name = connection.ops.quote_name
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT 1 FROM {quote_name(self._table)} "
                        f"WHERE {quote_name('cache_key')} = %s FOR UPDATE",
                        [self.make_and_validate_key(key, version=version)],
                    )
            return super().incr(key, delta, version)  # decr() comes here too


class RedisCache(DjangoRedisCache):
    DELETE_BATCH = 1000

    def clear(self):
        if not self.key_prefix:
            return super().clear()
        # Django's default KEY_FUNCTION writes "<prefix>:<version>:<key>".
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.key_prefix) + ":*"
        client = self._cache.get_client(write=True)
        batch = []
        for key in client.scan_iter(match=pattern, count=self.DELETE_BATCH):
            batch.append(key)
            if len(batch) >= self.DELETE_BATCH:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)
        return True
