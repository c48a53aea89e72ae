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
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands import migrate
from django.db import connections

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
            return super().handle(*args, **options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
