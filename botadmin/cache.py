"""Django's cache backends with four fixes: a database `incr()` that counts every
request, a Redis `incr()` in one round trip, a Redis `clear()` that leaves
other prefixes' keys alone, and one Redis client per connection pool. And
`best_effort`, the shared cache for callers that can do without it.

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

RedisCache: Django's `incr()` asks EXISTS, then INCRBY: two round trips for
every `/api/send` (its rate counter), and a key that expires between the two
comes back as a new key without an expiry. Here both run in Redis as one
script, as django-redis does. Django's `clear()` is FLUSHDB, which empties the
whole Redis database, also the keys of any other KEY_PREFIX in it (another
botadmin, or the other processes of a parallel test run). With a KEY_PREFIX it
deletes only the keys under that prefix. And Django builds a new `redis.Redis`
client for every cache call, whose constructor fills a table of some 160
response callbacks: about a third of the rate counter's CPU on each
`/api/send`. A client only holds its pool, and redis-py clients are
thread-safe, so here each pool has one.
"""

import base64
import logging
import pickle
import re
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient
from django.db import connections, router, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


class DatabaseCache(DjangoDatabaseCache):
    def incr(self, key, delta=1, version=None):  # decr() comes here too
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote_name = connection.ops.quote_name
        table, cache_key = quote_name(self._table), quote_name("cache_key")
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        # Django's own has_key() compares expiry times the same way.
        now = timezone.now().replace(microsecond=0, tzinfo=None)
        # Two statements, not Django's four (get, then set's count for culling, lookup
        # and update): on SQLite every request to /api/send holds the one write lock
        # for this, so the shorter the better.
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote_name('value')} FROM {table} "
                f"WHERE {cache_key} = %s AND {quote_name('expires')} > %s{lock}",
                [key, connection.ops.adapt_datetimefield_value(now)],
            )
            row = cursor.fetchone()
            if row is None:
                raise ValueError(f"Key '{key}' not found")
            stored = connection.ops.process_clob(row[0])
            value = pickle.loads(base64.b64decode(stored.encode())) + delta
            pickled = pickle.dumps(value, self.pickle_protocol)
            cursor.execute(
                f"UPDATE {table} SET {quote_name('value')} = %s WHERE {cache_key} = %s",
                [base64.b64encode(pickled).decode("latin1"), key],
            )
        return value


class RedisCacheClient(DjangoRedisCacheClient):
    INCR_IF_EXISTS = (
        "if redis.call('exists', KEYS[1]) == 1 then"
        " return redis.call('incrby', KEYS[1], ARGV[1]) end return false"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}  # by connection pool
        self._incr_if_exists = None  # the script, registered on first use

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        if (client := self._clients.get(pool)) is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client

    def incr(self, key, delta):  # RedisCache's incr() and decr() come here
        if self._incr_if_exists is None:
            # register_script: EVALSHA, loading the script once per Redis server.
            client = self.get_client(key, write=True)
            self._incr_if_exists = client.register_script(self.INCR_IF_EXISTS)
        value = self._incr_if_exists(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value


class RedisCache(DjangoRedisCache):
    DELETE_BATCH = 1000

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient

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


# After a failure a process asks that cache again only this many seconds later, so a
# hung cache costs one timeout per process now and then, not one per request.
RETRY_AFTER_FAILURE = 10.0

_unreachable_until: dict[tuple[str, str], float] = {}  # by alias and LOCATION


class BestEffortCache:
    """The cache `alias` for what works without it (counts kept for a minute,
    rate limits, login throttling, copies of sessions): while it fails, a read
    is a miss (`get` gives the default, `get_many` {}, `in` False), a write is
    skipped (`add` and `delete` give False), and the log has a warning, never
    the keys or values."""

    def __init__(self, alias: str = "default"):
        self.alias = alias

    def attempt(self, call, *args, fallback=None, **kwargs):
        """`call(*args, **kwargs)`, something using this cache, or `fallback` if it
        raises or this cache failed less than RETRY_AFTER_FAILURE seconds ago."""
        where = (self.alias, str(settings.CACHES[self.alias].get("LOCATION", "")))
        if time.monotonic() < _unreachable_until.get(where, 0.0):
            return fallback
        try:
            return call(*args, **kwargs)
        except Exception as error:
            _unreachable_until[where] = time.monotonic() + RETRY_AFTER_FAILURE
            logger.warning(
                "Cache %r unreachable (%s): going without it for %g s",
                self.alias,
                error.__class__.__name__,
                RETRY_AFTER_FAILURE,
            )
            return fallback

    def _backend(self):
        return caches[self.alias]

    def get(self, key, default=None):
        return self.attempt(lambda: self._backend().get(key, default), fallback=default)

    def get_many(self, keys) -> dict:
        return self.attempt(lambda: self._backend().get_many(keys), fallback={})

    def __contains__(self, key) -> bool:
        return self.attempt(lambda: key in self._backend(), fallback=False)

    def set(self, key, value, timeout) -> None:
        self.attempt(lambda: self._backend().set(key, value, timeout))

    def set_many(self, data: dict, timeout) -> None:
        self.attempt(lambda: self._backend().set_many(data, timeout))

    def add(self, key, value, timeout) -> bool:
        return self.attempt(lambda: self._backend().add(key, value, timeout), fallback=False)

    def delete(self, key) -> bool:
        return self.attempt(lambda: self._backend().delete(key), fallback=False)


best_effort = BestEffortCache()


def forget_failures() -> None:
    """Ask every cache again at once (for tests)."""
    _unreachable_until.clear()
