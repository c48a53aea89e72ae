"""What the benchmarks share: gunicorn started as `make run` starts it, and a threaded poster.

Benchmarks run on their own SQLite database in var/<name>/ unless
DATABASE_URL / CACHE_URL / CELERY_BROKER_URL are set.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv/bin/python")
PROCFILE = ROOT / "Procfile"


def server_environment(port: int, var_name: str, **extra: str) -> dict:
    env = {
        **os.environ,
        "PORT": str(port),
        "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
        "BOTADMIN_BENCH_VIEWS": "1",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    if "DATABASE_URL" not in os.environ:
        var = ROOT / "var" / var_name
        shutil.rmtree(var, ignore_errors=True)
        var.mkdir(parents=True)
        env["BOTADMIN_VAR_DIR"] = str(var)
    return env


def prepare_django(port: int, var_name: str) -> tuple[dict, Path]:
    """The web server's environment (without the bench views) and the var/ folder for the
    processes' logs; Django set up in this process on the same settings, migrated."""
    env = server_environment(port, var_name)
    env.pop("BOTADMIN_BENCH_VIEWS", None)
    folder = Path(env.get("BOTADMIN_VAR_DIR", ROOT / "var" / var_name))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    return env, folder


def manage(env: dict, *args: str, capture: bool = False) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=capture,
        text=True,
    )
    return done.stdout if capture else ""


def start_server(env: dict, base: str) -> subprocess.Popen:
    """The web line of the Procfile `make run` starts; its access log is dropped."""
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "botadmin/gunicorn_conf.py", "botadmin.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=5).ok:
                return server
        except requests.RequestException:  # not listening yet, or busy starting
            time.sleep(0.2)
    server.terminate()
    sys.exit("gunicorn did not start")


def answered_ok(response: requests.Response) -> bool:
    """The API envelope's success: HTTP 200 with errcode 0."""
    return response.status_code == 200 and response.json().get("errcode") == 0


def post_many(
    url: str,
    bodies: Callable[[int], bytes],
    total: int,
    threads: int,
    *,
    params: Callable[[int], dict] | None = None,
    ok: Callable[[requests.Response], bool] = answered_ok,
):
    """POST `total` bodies (with `params(i)` as the query string, if given) from `threads`
    threads; (accepted by `ok`, req/s, p50 ms, p99 ms)."""
    latencies: list[float] = []
    accepted = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def worker():
        nonlocal accepted
        session = requests.Session()
        headers = {"Content-Type": "application/json"}
        mine, good = [], 0
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            start = time.perf_counter()
            response = session.post(
                url,
                data=bodies(index),
                params=params(index) if params else None,
                headers=headers,
                timeout=30,
            )
            mine.append(time.perf_counter() - start)
            good += ok(response)
        with lock:
            latencies.extend(mine)
            accepted += good

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return accepted, accepted / elapsed, cuts[49] * 1000, cuts[98] * 1000


def post_in_rounds(
    targets: list[tuple[str, Callable[[int], bytes]]], total: int, rounds: int, threads: int
) -> tuple[list[tuple[int, float, float, float]], list[list[float]]]:
    """POST `total` bodies to each (url, bodies) target, the targets taking turns in
    `rounds` rounds, so that a drift of the shared machine during the run (another
    process, a table growing, autovacuum) weighs on each alike. Returns for each target
    (accepted, req/s over its rounds, median p50 ms, worst p99 ms), and each round's
    req/s by target."""
    rounds = max(1, min(rounds, total))
    shares = [total // rounds + (r < total % rounds) for r in range(rounds)]
    done = [0] * len(targets)
    runs = []  # runs[r][t]: (accepted, req/s, p50, p99)
    for share in shares:
        runs.append([])
        for t, (url, bodies) in enumerate(targets):
            offset = done[t]  # each body once: the next round goes on where this one ended
            runs[-1].append(post_many(url, lambda i, b=bodies, o=offset: b(o + i), share, threads))
            done[t] += share
    totals = []
    for t in range(len(targets)):
        mine = [round_[t] for round_ in runs]
        accepted = sum(run[0] for run in mine)
        seconds = sum(run[0] / run[1] for run in mine)
        p50 = statistics.median(run[2] for run in mine)
        totals.append((accepted, accepted / seconds, p50, max(run[3] for run in mine)))
    return totals, [[run[1] for run in round_] for round_ in runs]


# --- The Procfile's Celery workers and beat, as `make run` starts them -------------------


def worker_layout(procfile: Path = PROCFILE) -> str:
    """One line: the database, the broker, the workers `procfile` starts, the load."""

    from devtools.processes import procfile_workers

    workers = procfile_workers(procfile)
    return (
        f"{engines()}; workers as {procfile.name} starts them: "
        + "; ".join(f"{name}: {' '.join(options)}" for name, options in workers.items())
        + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )


def start_workers_and_beat(
    env: dict, folder: Path, procfile: Path = PROCFILE
) -> list[subprocess.Popen]:
    """The Celery workers `procfile` starts, and beat, as `make run` starts them; their
    logs in `folder`."""
    from devtools.processes import celery_worker, procfile_workers

    started = []
    for name, options in procfile_workers(procfile).items():
        started.append(
            celery_worker(pool=None, options=options, loglevel="INFO", env=env,
                          stdout=subprocess.DEVNULL, stderr=folder / f"{name}.log")
        )  # fmt: skip
    with open(folder / "beat.log", "wb") as log:
        started.append(
            subprocess.Popen(
                [str(ROOT / ".venv/bin/celery"), "-A", "botadmin", "beat", "--loglevel=WARNING",
                 f"--schedule={folder / 'celerybeat-schedule'}"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        )  # fmt: skip
    return started


def stop_all(processes: list[subprocess.Popen], server: subprocess.Popen, timeout: float) -> None:
    """The workers and beat (killed after `timeout` s; 0: at once), then the web server."""
    from devtools.processes import stop_process_group

    for process in processes:
        stop_process_group(process, timeout=timeout)
    server.terminate()
    server.wait(timeout=30)


# --- Where the CPU went (Linux /proc) -----------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()  # after "pid (name) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (a gunicorn master and its workers, a Celery pool)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))):
            children.setdefault(stat[0], []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    return tree


def database_backends() -> list[int]:
    """PostgreSQL's server processes for DATABASE_URL's database (none for SQLite, which
    runs inside the processes using it)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return []
    name = url.rsplit("/", 1)[-1].split("?")[0]
    found = []
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if title.startswith("postgres: ") and f" {name} " in title:
            found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds each group of processes used between `start()` and `stop()`.

    Groups are callables returning pids. They are read every half second, so a
    process started meanwhile counts, and one that ended meanwhile (a database
    connection closed after CONN_MAX_AGE) counts up to its last reading. On 2
    shared cores this says which side a rate is bounded by."""

    def __init__(self, **groups: Callable[[], list[int]]):
        self.groups = groups
        self.used: dict[str, float] = {}
        self._began: dict[str, dict[int, float]] = {}
        self._last: dict[str, dict[int, float]] = {name: {} for name in groups}
        self._stopped = threading.Event()

    def _read(self) -> dict[str, dict[int, float]]:
        return {
            name: {pid: stat[1] for pid in pids() if (stat := _proc_stat(pid))}
            for name, pids in self.groups.items()
        }

    def _sample(self) -> None:
        for name, times in self._read().items():
            self._last[name].update(times)

    def _sample_until_stopped(self) -> None:
        while not self._stopped.wait(0.5):
            self._sample()

    def start(self) -> None:
        self._began = self._read()
        self._sampler = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self._sampler.start()

    def stop(self) -> dict[str, float]:
        self._stopped.set()
        self._sampler.join()
        self._sample()
        self.used = {
            name: sum(t - self._began[name].get(pid, 0.0) for pid, t in times.items())
            for name, times in self._last.items()
        }
        return self.used

    def per_item(self, items: int) -> str:
        """ "web 6.8, worker 3.0, …" in ms of CPU per item."""
        return ", ".join(f"{name} {used / items * 1000:.1f}" for name, used in self.used.items())


def engines() -> str:
    """ "database sqlite3, broker filesystem (pool threads)": what this process's settings use."""
    from django.conf import settings

    return (
        f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, broker "
        f"{settings.CELERY_BROKER_URL.split(':', 1)[0]} (pool {settings.CELERY_WORKER_POOL})"
    )


# --- Task messages (a worker started with --loglevel=INFO logs each one it receives) ------

TASK_RECEIVED = re.compile(r"Task (\S+)\[[0-9a-f-]+\] received")


def tasks_received(worker_log: Path) -> Counter:
    """The task messages a worker received, by task name, as its log says (beat's own
    entries are not logged: botadmin.logging.QuietHousekeepingFilter)."""
    return Counter(TASK_RECEIVED.findall(worker_log.read_text(errors="replace")))


def task_messages_waiting(queue: str, *, purge: bool = False) -> int:
    """The task messages waiting on `queue` of this process's broker; `purge`: dropped."""
    from celery import current_app

    with current_app.connection_for_write() as connection:
        channel = connection.default_channel
        if purge:
            return channel.queue_purge(queue) or 0
        return channel.queue_declare(queue).message_count


def broker_messages(env: dict, queue: str = "celery", *, purge: bool = False) -> int | None:
    """Task messages waiting in `queue` of the broker `env` names (None for a broker not
    counted here), read from outside its processes; `purge`: dropped."""
    url = env.get("CELERY_BROKER_URL", "filesystem://")
    if url.startswith("filesystem://"):
        folder = Path(env.get("BOTADMIN_VAR_DIR", ROOT / "var")) / "broker" / "queue"
        names = os.listdir(folder) if folder.is_dir() else []  # none published yet
        waiting = [name for name in names if name.endswith(f".{queue}.msg")]
        for name in waiting if purge else ():
            (folder / name).unlink(missing_ok=True)
        return len(waiting)
    if url.startswith("redis://"):
        import redis

        client = redis.Redis.from_url(url)
        waiting = client.llen(queue)
        if purge:
            client.delete(queue)
        return waiting
    return None
