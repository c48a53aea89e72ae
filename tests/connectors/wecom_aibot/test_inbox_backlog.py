"""How many callbacks wait in the AI bot journals a stopped gateway left (connectors/aibot_inbox.py):
counted from real journal files, each read once, and reported at every poll, also while a
replay waits for the database."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connections

from connectors import aibot_inbox
from messaging.models import Message
from tests.polling import wait_until

from .support import messages_locked


def journal_line(msgid: str) -> str:
    body = {
        "msgid": msgid,
        "chattype": "single",
        "from": {"userid": "lisi"},
        "msgtype": "text",
        "text": {"content": msgid},
    }
    frame = {"cmd": "aibot_msg_callback", "headers": {"req_id": "r"}, "body": body}
    return json.dumps({"received": 1_790_000_000, "window": 300, "frame": frame}) + "\n"


def left_journal(folder: Path, bot_id: int, msgids: list[str], pid: int = 4242) -> Path:
    """A journal as a killed gateway's session leaves it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bot_id}-{pid}-abcd.inbox"
    path.write_text("".join(journal_line(msgid) for msgid in msgids))
    return path


@contextmanager
def locked(path: Path):
    """The journal held as a live session (or another gateway's replay) holds it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def flock_held(path: Path) -> bool:
    """Someone holds an exclusive flock on the file (read from /proc/locks: trying the lock
    ourselves could make the replay leave the journal)."""
    inode = path.stat().st_ino
    with open("/proc/locks") as locks:
        held = [line.split() for line in locks]
    # "1: FLOCK ADVISORY WRITE <pid> <major>:<minor>:<inode> 0 EOF"; a waiter's has "->".
    return any(
        fields[1:2] == ["FLOCK"] and fields[3] == "WRITE" and fields[5].endswith(f":{inode}")
        for fields in held
    )


def test_the_journals_left_behind_are_counted_and_a_live_sessions_only_once_it_ends(tmp_path):
    left_journal(tmp_path, 7, ["m1", "m2", "m3"])
    live = left_journal(tmp_path, 7, ["m4", "m5"], pid=4343)
    (tmp_path / "notes.txt").write_text("not\na\njournal\n")
    journals = aibot_inbox.OrphanedJournals(tmp_path)

    with locked(live):
        assert journals.count() == 3  # the live one is its gateway's to count
        assert journals.count() == 3

    assert journals.count() == 5  # its gateway was killed


def test_an_unchanged_journal_is_not_read_again_and_a_changed_one_is(tmp_path):
    journal = left_journal(tmp_path, 7, ["m1", "m2", "m3"])
    journals = aibot_inbox.OrphanedJournals(tmp_path)
    assert journals.count() == 3

    # Other bytes, same size and mtime: a count that read the file again would say 1.
    before = journal.stat()
    journal.write_bytes(b"x" * (before.st_size - 1) + b"\n")
    os.utime(journal, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert journals.count() == 3

    with journal.open("a") as appended:
        appended.write(journal_line("m4"))
    assert journals.count() == 2

    journal.unlink()
    assert journals.count() == 0


def test_a_journal_seen_left_behind_still_counts_while_another_gateway_replays_it(tmp_path):
    journal = left_journal(tmp_path, 7, ["m1", "m2"])
    journals = aibot_inbox.OrphanedJournals(tmp_path)
    assert journals.count() == 2

    with locked(journal):  # another gateway on the host stores it
        assert journals.count() == 2
        journal.unlink()  # and deletes it once stored
        assert journals.count() == 0


def test_a_journal_this_gateways_replay_holds_counts_from_the_first_look(aibot, tmp_path):
    journal = left_journal(tmp_path, aibot.pk, ["m1", "m2", "m3"])
    journals = aibot_inbox.OrphanedJournals(tmp_path)
    stored: list[int] = []

    def replay() -> None:
        try:
            stored.append(aibot_inbox.replay_orphans(tmp_path, journals=journals))
        finally:
            connections.close_all()

    replaying = threading.Thread(target=replay)
    with messages_locked():  # the replay takes the journal, then waits for the database
        replaying.start()
        assert wait_until(lambda: flock_held(journal), timeout=10)

        assert journals.count() == 3

    replaying.join(30)
    assert stored == [3]
    assert journals.count() == 0
    assert Message.objects.filter(bot=aibot).count() == 3


@pytest.fixture
def local_cache(settings):
    """A cache outside the database, which messages_locked holds on SQLite."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "aibot-inbox-backlog",
        },
    }


def test_the_gateway_reports_the_backlog_while_its_replay_waits_for_the_database(
    fast_gateway, make_aibot, start_gateway, local_cache
):
    bot = make_aibot(is_active=False)  # no connection: only its journal, left by a killed gateway
    journal = left_journal(Path(fast_gateway.WECOM_AIBOT_INBOX_DIR), bot.pk, ["m1", "m2", "m3"])
    host = socket.gethostname()

    with messages_locked():
        start_gateway()
        assert wait_until(lambda: flock_held(journal), timeout=10)  # the replay waits
        assert wait_until(lambda: aibot_inbox.backlog_by_host() == {host: 3}, timeout=30)

    assert wait_until(lambda: Message.objects.filter(bot=bot).count() == 3, timeout=30)
    assert wait_until(lambda: aibot_inbox.backlog_by_host() == {host: 0}, timeout=30)
    assert not journal.exists()
