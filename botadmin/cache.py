"""Django's database cache with an `incr()` that counts every request.

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
"""

from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
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
