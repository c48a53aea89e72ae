"""The AI bot gateway's inbox journal: callbacks read from WeCom and not stored yet, on disk.

WeCom's long connection has no acknowledgement of a callback: a message the
gateway read and then lost is never sent again. So each session writes every
callback frame to a journal file of its own (in WECOM_AIBOT_INBOX_DIR) as soon
as it is read, before anything else is done with it. That is one `write`,
which survives the process being killed (the bytes are in the kernel's page
cache), and an `fdatasync` on the gateway's journal thread right after, for a
crash of the host (group commit: one sync covers every frame written while the
previous one ran; the event loop never waits for the disk). The frame then
goes to the session's store queue as before. Whenever that queue is empty
(every frame written is stored) and the file has grown past EMPTIED_FROM_BYTES
it is emptied: emptying costs a few ms on the event loop (ext4 frees synced
blocks), so it is done once per ~100 callbacks rather than after each; the
stored ones a replay then meets again are recognised by their msgid.

A journal no live session holds — each holds its file with an exclusive
`flock`, which the kernel releases when the process dies — is replayed by any
gateway on that host, at its start and at every poll: its callbacks are stored
in order through the same store (`aibot_inbound.store_frame`: deduplicated by
msgid, so one stored before the kill is not stored twice), then the file is
deleted.

At every poll, whether a replay is still running or not, the gateway reports
its backlog in the shared cache (`report_backlog`): the callbacks its sessions
read and did not store yet, and those in the journals left on its host
(`OrphanedJournals`, which reads a journal once, not at every poll). `/readyz`
(`aibot_inbox`) and `/metrics` (`botadmin_aibot_inbox_unstored`) read it
(`backlog_by_host`), from any host.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from concurrent.futures import Executor
from pathlib import Path

from django.conf import settings
from django.core.cache.backends.base import BaseCache
from django.db import InterfaceError, OperationalError, ProgrammingError

from botadmin.cache import BestEffortCache, best_effort

logger = logging.getLogger(__name__)

SUFFIX = ".inbox"
# A journal between its creation and its rename to SUFFIX (when it is locked already).
CREATING_SUFFIX = ".creating"
# The file is emptied once everything in it is stored and it holds this much (~100 callbacks).
EMPTIED_FROM_BYTES = 64 * 1024
# bot id - process id - random, then either suffix.
JOURNAL_NAME = re.compile(r"^(\d+)-\d+-[0-9a-f]+\.(inbox|creating)$")
DATABASE_ERRORS = (OperationalError, InterfaceError, ProgrammingError)
# Every gateway's latest report, in one entry: {holder: {"host", "unstored", "orphaned", "at"}}.
BACKLOG_KEY = "aibot:inbox-backlog"
READ_CHUNK_BYTES = 1 << 16


class InboxJournal:
    """One session's journal file, held (locked) until `close`."""

    def __init__(self, folder: Path, bot_id: int, sync_executor: Executor):
        name = f"{bot_id}-{os.getpid()}-{secrets.token_hex(4)}"
        creating = folder / f"{name}{CREATING_SUFFIX}"
        self.path = folder / f"{name}{SUFFIX}"
        self._fd = os.open(creating, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            # Renamed only once locked: a replay never takes a journal a session is opening.
            os.replace(creating, self.path)
            _sync_folder(folder)
        except OSError:
            os.close(self._fd)
            creating.unlink(missing_ok=True)
            raise
        self._executor = sync_executor
        self.unstored = 0  # frames written and not known to be stored yet
        self._size = 0  # bytes written since the file was last emptied
        self._syncing: asyncio.Future | None = None
        self._unsynced = False
        self._failing = False

    def write(self, frame: dict, received: float, window: float | None) -> None:
        """Append one callback frame (what `aibot_inbound.store_frame` takes)."""
        # ASCII (json's default): a lone surrogate in a frame's text cannot fail the encoding.
        line = json.dumps({"received": received, "window": window, "frame": frame})
        data = memoryview(f"{line}\n".encode())
        self._size += len(data)
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as error:  # a full disk: the frame is still stored from memory
            self._failed("writing", error)
            return
        self._failing = False
        self.unstored += 1
        self._unsynced = True
        if self._syncing is None:
            self._sync()

    def _sync(self) -> None:
        self._unsynced = False
        self._syncing = asyncio.get_running_loop().run_in_executor(
            self._executor, os.fdatasync, self._fd
        )
        self._syncing.add_done_callback(self._synced)

    def _synced(self, future: asyncio.Future) -> None:
        self._syncing = None
        if not future.cancelled() and future.exception() is not None:
            self._failed("syncing", future.exception())
        if self._unsynced and self._fd >= 0:
            self._sync()

    def all_stored(self) -> None:
        """Every frame written has been stored: empty the file if it has grown enough."""
        self.unstored = 0
        if self._size < EMPTIED_FROM_BYTES:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError as error:
            self._failed("emptying", error)  # replayed later, deduplicated by msgid
            return
        self._size = 0

    async def close(self) -> None:
        """Delete the file when everything in it was stored; otherwise leave it, synced, for
        a replay (`replay_orphans`) once the lock is released."""
        while self._syncing is not None:  # a finished sync may start the next one
            await asyncio.wait([self._syncing])
        try:
            if self.unstored:
                os.fdatasync(self._fd)
            else:
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = -1

    def _failed(self, doing: str, error: BaseException) -> None:
        if not self._failing:  # once until it works again
            logger.error(
                "AI bot inbox journal %s: %s failed (%s): callbacks read but not stored yet are "
                "lost if the gateway stops before storing them",
                self.path.name,
                doing,
                error,
            )
        self._failing = True


def _sync_folder(folder: Path) -> None:
    """Make a file's creation or rename in `folder` survive a crash of the host."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replay_orphans(
    folder: Path,
    stopping: threading.Event | None = None,
    journals: OrphanedJournals | None = None,
) -> int:
    """Store the callbacks of every journal in `folder` that no live session holds, then delete
    it; how many were stored (repeats not counted). A database error stops the pass and
    `stopping` ends it between two callbacks: the file stays for the next one. `journals`
    (this gateway's count of them) learns which it takes."""
    stored = 0
    for path in sorted(folder.iterdir()):
        if not JOURNAL_NAME.match(path.name):
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # deleted by its session or another replay meanwhile
        try:
            with _TRYING_LOCKS:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live session's
                if journals is not None:
                    journals.taken(path.name, os.fstat(fd).st_ino)
            if not _still_named(fd, path):
                continue  # replayed and deleted by another gateway while we waited
            done, count = _replay(path, fd, stopping)
            stored += count
            if not done:
                return stored
            path.unlink()
        finally:
            os.close(fd)
    return stored


def _still_named(fd: int, path: Path) -> bool:
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _replay(path: Path, fd: int, stopping: threading.Event | None) -> tuple[bool, int]:
    """(whether the whole file was gone through, callbacks stored)."""
    from conversations.models import Bot

    from .aibot_inbound import store_frame
    from .wecom_aibot_frames import FrameError

    bot_id = int(JOURNAL_NAME.match(path.name)[1])
    bot = Bot.objects.filter(pk=bot_id).first()
    known: dict = {}
    stored = lines = 0
    with os.fdopen(os.dup(fd), "rb") as journal:
        for line in journal:
            if stopping is not None and stopping.is_set():
                return False, stored
            lines += 1
            try:
                entry = json.loads(line)
                frame, received, window = entry["frame"], entry["received"], entry["window"]
            except (ValueError, KeyError, TypeError):  # the last line, cut by a kill mid-write
                logger.warning("AI bot inbox journal %s: line %d unreadable", path.name, lines)
                continue
            if bot is None:
                continue
            try:
                if store_frame(bot, frame, received, window, known) is not None:
                    stored += 1
            except FrameError as error:
                logger.warning("AI bot %s: callback not stored: %s", bot_id, error)
            except DATABASE_ERRORS:
                raise  # the file stays for the next pass
            except Exception:
                logger.exception("AI bot %s: storing a callback failed", bot_id)
    if bot is None and lines:
        logger.warning("AI bot %s: deleted; %d callbacks in %s dropped", bot_id, lines, path.name)
    elif lines:
        logger.info(
            "AI bot %s: %d of %d callbacks left in %s by a stopped gateway stored now "
            "(the others were stored before)",
            bot_id,
            stored,
            lines,
            path.name,
        )
    return True, stored


# --- the backlog, for /readyz and /metrics ---------------------------------------------


class OrphanedJournals:
    """The callbacks in the journals of `folder` that no live session holds (`count`): their
    lines, so one stored before its gateway stopped counts until the replay deletes the file.

    Counted at every poll, cheaply. A session locks its journal before naming it `.inbox`
    and holds it to its end, so a journal once seen unlocked, or taken by this process's
    replay (`taken`), is orphaned until deleted, still counted while a replay stores it:
    nobody writes it any more, and it is read again only if its (inode, size, mtime)
    changed. The others are tried at each count, with a shared lock taken and dropped at
    once (no read): a replay by another gateway on the host that tries the same journal in
    those microseconds leaves it for its next poll.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        # name: ((inode, size, mtime), lines), the orphaned journals only.
        self._orphaned: dict[str, tuple[tuple[int, int, int], int]] = {}
        self._taken: dict[str, int] = {}  # name: inode, journals a replay took
        self._lock = threading.Lock()

    def taken(self, name: str, inode: int) -> None:
        """A replay holds this journal (a session never again): orphaned. Called with
        _TRYING_LOCKS held, as the lock was taken."""
        with self._lock:
            self._taken[name] = inode

    def count(self) -> int:
        with self._lock:
            taken_before = set(self._taken)
        listed = set()
        counted: dict[str, tuple[tuple[int, int, int], int]] = {}
        for path in self.folder.iterdir():
            if JOURNAL_NAME.match(path.name):
                listed.add(path.name)
                entry = self._journal(path)
                if entry is not None:
                    counted[path.name] = entry
        with self._lock:
            self._orphaned = counted  # the deleted ones go
            for name in (taken_before - listed) | (set(self._taken) & set(counted)):
                self._taken.pop(name, None)  # gone, or known now
        return sum(lines for _identity, lines in counted.values())

    def _journal(self, path: Path) -> tuple[tuple[int, int, int], int] | None:
        """(identity, lines) of an orphaned journal; None for a live session's or a gone one."""
        known = self._orphaned.get(path.name)
        try:
            if known is not None and _identity(path.stat()) == known[0]:
                return known  # unchanged: not read again
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None  # replayed and deleted, or its session ended, meanwhile
        try:
            identity = _identity(os.fstat(fd))
            seen_orphaned = known is not None and known[0][0] == identity[0]  # and it changed
            if not seen_orphaned and not self._orphan(path.name, fd, identity[0]):
                return None  # a live session's: its gateway counts what it has not stored
            return identity, _lines(fd)
        finally:
            os.close(fd)

    def _orphan(self, name: str, fd: int, inode: int) -> bool:
        with _TRYING_LOCKS:
            with self._lock:
                if self._taken.get(name) == inode:
                    return True  # a replay of this process holds it
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True


# This process's replay and count never try one journal's lock at the same moment (the
# count's shared lock would make the replay leave a journal it could take).
_TRYING_LOCKS = threading.Lock()


def _identity(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _lines(fd: int) -> int:
    count = 0
    with os.fdopen(os.dup(fd), "rb") as journal:
        while chunk := journal.read(READ_CHUNK_BYTES):
            count += chunk.count(b"\n")
    return count


def report_backlog(holder: str, unstored: int, orphaned: int, now: float | None = None) -> None:
    """Record what this gateway has read and not stored yet: `unstored` in its sessions, and
    `orphaned`, the callbacks of the journals left on its host (`OrphanedJournals.count`).
    Best effort: while the cache is down nobody sees it."""
    now = time.time() if now is None else now
    report = {"host": socket.gethostname(), "unstored": unstored, "orphaned": orphaned, "at": now}
    # Read, change, write: two gateways writing at once may drop one report until its next
    # poll, a few seconds.
    reports = {
        other: kept
        for other, kept in (best_effort.get(BACKLOG_KEY) or {}).items()
        if now - kept["at"] <= settings.BOTADMIN_HEARTBEAT_MAX_AGE
    }
    reports[holder] = report
    best_effort.set(BACKLOG_KEY, reports, timeout=settings.BOTADMIN_HEARTBEAT_MAX_AGE * 2)


def backlog_by_host(
    now: float | None = None, from_cache: BestEffortCache | BaseCache = best_effort
) -> dict[str, int]:
    """Callbacks the AI bot gateways read and did not store yet, by host, from the reports of
    the last BOTADMIN_HEARTBEAT_MAX_AGE seconds: a gateway that stopped reports nothing (the
    next one on its host counts what it left). Two gateways on one host count its left
    journals once. {} when no gateway reported, or the cache is down; read from a Django
    cache (`from_cache`), a cache that is down raises instead."""
    now = time.time() if now is None else now
    live: dict[str, int] = {}
    orphaned: dict[str, int] = {}
    for report in (from_cache.get(BACKLOG_KEY) or {}).values():
        if now - report["at"] > settings.BOTADMIN_HEARTBEAT_MAX_AGE:
            continue
        host = report["host"]
        live[host] = live.get(host, 0) + report["unstored"]
        orphaned[host] = max(orphaned.get(host, 0), report["orphaned"])
    return {host: live[host] + orphaned[host] for host in live}
