"""The metric files of one folder (`BOTADMIN_METRICS_DIR/<role>/`) and the processes that
wrote them: whether a file's process is gone, a lock that keeps a scrape from reading a
folder while it changes, and folding the counts of gone processes into one file.

prometheus-client's multiprocess mode writes each process's counts to files named by
type and pid (`counter_1234.db`, `histogram_1234.db`) and a scrape adds up every file of
the folder (`MultiProcessCollector`). A service empties its folder of gone processes'
files as it starts (`metrics.clean_role_dir`). A manage.py command cron runs is no
service: on a host that runs only those in the folder "other" (no gunicorn, no AI bot
gateway, no runserver), each run's files would stay for good. So each command folds the
files of the gone ones into one file per type as it starts (`fold_gone_processes`):
`counter_folded.db` holds the sums of every gone command's counters, which the collector
adds up as it did their own files (it reads a file's type from its name, before the
first "_"), and the folder keeps one file per type and those of the last runs.
Nothing here imports Django: the files are the client's.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict

logger = logging.getLogger(__name__)

LOCK = ".lock"
FOLDED = "folded"
# The types whose values add up across processes, whatever the process: a gauge's do not
# (a gone process's "live" gauge goes with it; botadmin writes no gauge to files).
SUMMED_TYPES = ("counter", "histogram", "summary")
# A folded file being written: not `*.db`, so neither a scrape nor a clean-up reads it.
UNFINISHED = ".folding"


@contextlib.contextmanager
def folder_lock(folder: Path, *, shared: bool) -> Iterator[None]:
    """An advisory lock on `folder` (`flock` of its `.lock`): shared while a scrape reads
    its files, exclusive while they change (a clean-up, a fold), so a scrape never adds up
    a folded file and the files folded into it, nor misses both."""
    folder.mkdir(parents=True, exist_ok=True)
    # Read-only: flock needs no more, and a lock file another user made is still opened.
    descriptor = os.open(folder / LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # and with it the lock


def process_gone(path: Path) -> bool:
    """Whether the process that writes `path` (`counter_1234.db`: 1234) has ended. A file
    named by no pid (the folded ones) has no process: it counts as gone."""
    try:
        os.kill(int(path.stem.rsplit("_", 1)[-1]), 0)
    except (ValueError, ProcessLookupError):
        return True
    except PermissionError:  # another user's process, running
        return False
    return False


def _values(path: Path) -> list[tuple[str, float, float]]:
    """A file's (key, value, timestamp) entries; none for a file its process left unwritten
    (killed as it made it: empty, or cut short)."""
    try:
        return [entry[:3] for entry in MmapedDict.read_all_values_from_file(str(path))]
    except (struct.error, RuntimeError):
        logger.warning("metrics: unreadable file %s dropped", path.name)
        return []


def fold_gone_processes(folder: Path) -> int:
    """Fold the files of `folder`'s gone processes into one file per type (`counter_folded.db`
    …): each key's value the sum of the old folded file's and theirs (a histogram's bucket
    counts, sums and counts add up as counters do). Returns how many files were folded.

    Under the folder's exclusive lock, so two commands starting at once fold each file
    once and a scrape reads the folder before or after, never between. The folded file is
    written whole under another name, the folded files are removed, then it takes its
    name: a fold killed halfway loses the counts it was folding (what Prometheus reads as
    a restart, as for a service's clean-up) and never adds them twice."""
    with folder_lock(folder, shared=False):
        for unfinished in folder.glob(f"*{UNFINISHED}"):  # left by a fold killed halfway
            unfinished.unlink(missing_ok=True)
        gone: dict[str, list[Path]] = {}
        for path in folder.glob("*.db"):
            kind, _, name = path.stem.partition("_")
            if kind == "gauge" and name.startswith("live") and process_gone(path):
                path.unlink(missing_ok=True)  # prometheus-client's mark_process_dead
            elif kind in SUMMED_TYPES and name != FOLDED and process_gone(path):
                gone.setdefault(kind, []).append(path)
        for kind, paths in gone.items():
            folded = folder / f"{kind}_{FOLDED}.db"
            sums: dict[str, list[float]] = {}
            for path in [folded, *paths] if folded.exists() else paths:
                for key, value, timestamp in _values(path):
                    total = sums.setdefault(key, [0.0, 0.0])
                    total[0] += value
                    total[1] = max(total[1], timestamp)
            unfinished = folded.with_name(folded.name + UNFINISHED)
            written = MmapedDict(str(unfinished))
            try:
                for key, (value, timestamp) in sums.items():
                    written.write_value(key, value, timestamp)
            finally:
                written.close()
            for path in paths:
                path.unlink()
            unfinished.replace(folded)
        return sum(len(paths) for paths in gone.values())
