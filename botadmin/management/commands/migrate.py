"""Django's `migrate`, one run at a time per PostgreSQL database.

Every host's botadmin-migrate.service runs `migrate` when botadmin starts, so an upgrade
that restarts several hosts at once starts several. Side by side they would apply the
same migration twice (one fails on "already exists"), and one would take the index
another is still building CONCURRENTLY for a leftover of an interrupted run and drop it
(`migration_operations.drop_invalid_index`: PostgreSQL marks an index invalid until its
build ends). A session advisory lock makes them take turns: the next one finds nothing
left to do. `--plan` and `--check` only read, and do not wait for the lock.

At boot the database may not accept connections yet: `migrate` waits for it, up to
BOTADMIN_DATABASE_WAIT_SECONDS (`botadmin.database_wait`), then fails saying so.

On PostgreSQL each statement waits at most BOTADMIN_MIGRATE_LOCK_TIMEOUT for a table's
lock (`botadmin.migration_locks`): a migration that times out is rolled back and tried
again after a pause, for up to BOTADMIN_MIGRATE_RETRY_SECONDS, instead of queueing every
write to that table behind it. A migration with `atomic = False` is run again from its
first operation, so each of its operations must be safe to repeat
(`botadmin.migration_operations`).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import migrate
from django.db import OperationalError, connections

from botadmin import migration_locks
from botadmin.database_wait import DatabaseUnreachable, wait_for_database

# pg_advisory_lock's key for "a migrate is running"; advisory locks are per database.
LOCK_KEY = 0x626F7461646D6D67  # "botadmmg"


class Command(migrate.Command):
    def handle(self, *args, **options):
        connection = connections[options["database"]]
        try:
            wait_for_database(
                connection, settings.BOTADMIN_DATABASE_WAIT_SECONDS, say=self.stderr.write
            )
        except DatabaseUnreachable as unreachable:
            raise CommandError(
                f"{unreachable}: giving up. Is the database server running, and DATABASE_URL"
                " right? BOTADMIN_DATABASE_WAIT_SECONDS sets how long migrate waits."
            ) from None
        if connection.vendor != "postgresql" or options["plan"] or options["check_unapplied"]:
            return super().handle(*args, **options)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            if not cursor.fetchone()[0]:
                self.stdout.write("Waiting for another migrate of this database to finish…")
                cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        try:
            return self._migrate_with_lock_timeout(connection, *args, **options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])

    def _migrate_with_lock_timeout(self, connection, *args, **options):
        timeout = settings.BOTADMIN_MIGRATE_LOCK_TIMEOUT
        deadline = time.monotonic() + max(settings.BOTADMIN_MIGRATE_RETRY_SECONDS, 0)
        pause = migration_locks.FIRST_PAUSE
        while True:
            migration_locks.set_lock_timeout(connection, timeout)
            try:
                return super().handle(*args, **options)
            except OperationalError as error:
                if not migration_locks.is_lock_timeout(error):
                    raise
                in_the_way = migration_locks.long_transactions(connection, timeout)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandError(
                        f"{_waited(timeout, in_the_way)}, still after"
                        f" {settings.BOTADMIN_MIGRATE_RETRY_SECONDS:g} s of retries: giving"
                        " up. End those transactions or run migrate again at a quieter time;"
                        " BOTADMIN_MIGRATE_LOCK_TIMEOUT and BOTADMIN_MIGRATE_RETRY_SECONDS"
                        " set how long it waits."
                    ) from None
            finally:
                migration_locks.reset_lock_timeout(connection)
            wait = min(pause, left)
            if options["verbosity"] >= 1:  # ends the line "Applying messaging.0024_…..."
                self.stdout.write(" lock time-out")
            self.stderr.write(
                f"{_waited(timeout, in_the_way)}: rolled back, retrying in {wait:.2g} s"
            )
            time.sleep(wait)
            pause = min(pause * 2, migration_locks.LONGEST_PAUSE)


def _waited(timeout: float, in_the_way: list[str]) -> str:
    said = f"A table stayed locked longer than {timeout:g} s (BOTADMIN_MIGRATE_LOCK_TIMEOUT)"
    if in_the_way:
        said += "; transactions open for longer: " + "; ".join(in_the_way)
    return said
