"""The SQLite database of `make run` keeps its WAL file bounded: SQLite reuses the file
without shrinking it, so one large transaction (or a long read holding checkpoints
back) would leave it at its largest until the database is closed for good."""

import os
import subprocess
import sys

from django.conf import settings

# In a process of its own, with botadmin's settings and a database of its own in
# BOTADMIN_VAR_DIR: one transaction of 24 MB, its checkpoint, then a small write,
# which restarts the WAL; prints the WAL's size after each step.
WRITE_THEN_RESTART = """
import django, os
django.setup()
from django.conf import settings
from django.db import connection, transaction
wal = settings.DATABASES["default"]["NAME"] + "-wal"
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE filler (data BLOB)")
with transaction.atomic(), connection.cursor() as cursor:
    for _ in range(24):
        cursor.execute("INSERT INTO filler VALUES (randomblob(1024 * 1024))")
print(os.path.getsize(wal))
with connection.cursor() as cursor:
    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    cursor.execute("INSERT INTO filler VALUES (x'00')")
print(os.path.getsize(wal))
"""


def test_the_wal_file_is_cut_back_after_a_large_transaction(tmp_path):
    limit = settings.SQLITE_WAL_SIZE_LIMIT
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="botadmin.settings", BOTADMIN_VAR_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", WRITE_THEN_RESTART],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    grown, restarted = (int(size) for size in out)
    assert grown > 24 * 1024 * 1024 > limit
    assert restarted <= limit
