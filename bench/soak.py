"""A long run of `make run` under a steady load: does anything grow that should not?

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 4] [--port 8600] [--agent-port 8601]
    .venv/bin/python bench/soak.py --scrape 15   # metrics on, /metrics scraped every 15 s

Runs every process of the Procfile as `make run` does (honcho; SQLite and the
filesystem broker in var/bench-soak/, made afresh): web, worker, forwarder,
fetcher, beat, the AI-bot gateway, the banner and the demo agent. The demo
bot's webhook is a receiver in this process that verifies every signature
(401 to one it cannot verify), and its rate limit is raised to let the load
through. `--rate` messages a second go to /api/send, round robin to the demo
bot's conversations; the demo agent answers about half of them with an inbound
message to /api/callback (and posts one of its own every 20 s, images among
them), which the forwarder posts to the receiver and the fetcher archives.

Every `--sample` seconds (60) a sample: RSS, open descriptors (sockets among
them) and threads of each process; the broker's folders (files waiting,
taken, control), the SQLite database and its -wal, the media folders, the
metrics folder and the processes' log (honcho's output, what journald would
keep); a dashboard page's time (median of 3) and /api/send's p50 and p99 over
the interval; the messages not yet final. At the end: the samples, the growth
of each figure from the first sample to the last (after a minute's warm-up),
and the checks: every accepted message ended `sent`, every inbound message
reached the receiver once, signed.

With DATABASE_URL (and CELERY_BROKER_URL, CACHE_URL) set, the processes use them
instead, the rest of var/ still in var/bench-soak/; each sample then adds PostgreSQL's
size of the database and of its busiest tables (by rows written, with their indexes and
dead rows) and Redis' used_memory (the whole server's) and keys (of the URLs' databases).

With `--scrape S`, metrics are on (BOTADMIN_METRICS_TOKEN, as docs/monitoring.md sets
them up) and /metrics is scraped every S seconds, as Prometheus would: each sample adds
the scrapes' p50 and max time, the last one's size and series, and failed scrapes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    answered_ok,
    manage,
    process_tree,
    server_environment,
)
from devtools.receiver import Receiver  # noqa: E402

ADMIN_PASSWORD = "soak-admin-password"
METRICS_TOKEN = "soak-metrics-token"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30, help="how long the load runs")
    parser.add_argument("--rate", type=float, default=4, help="/api/send requests a second")
    parser.add_argument("--sample", type=float, default=60, help="seconds between samples")
    parser.add_argument("--port", type=int, default=8600, help="the web server's port")
    parser.add_argument("--agent-port", type=int, default=8601, help="the demo agent's port")
    parser.add_argument("--receiver-port", type=int, default=8602, help="the webhook receiver's")
    parser.add_argument("--settle", type=float, default=300, help="seconds to wait at the end")
    parser.add_argument(
        "--scrape", type=float, default=0, help="metrics on, /metrics every S seconds (0: off)"
    )
    return parser.parse_args()


# --- The processes ------------------------------------------------------------------------


def start_make_run(env: dict, folder: Path) -> subprocess.Popen:
    """The Procfile under honcho, as devtools/make_run.py starts it; its output in a file."""
    with open(folder / "make-run.log", "wb") as log:
        return subprocess.Popen(
            [str(ROOT / ".venv/bin/honcho"), "--no-colour", "-e", "/dev/null", "-f", "Procfile",
             "start"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def role(pid: int, gunicorn_master: int | None) -> str | None:
    """What the process is, in the Procfile's words; None for honcho's shells."""
    words = _cmdline(pid)
    if not words or words[0].endswith("sh"):
        return None
    line = " ".join(words)
    if "gunicorn" in line:
        return "web" if pid == gunicorn_master else "web-worker"
    if " worker " in f" {line} ":
        for name in ("forwarder", "fetcher", "worker"):
            if f"--hostname={name}@" in line:
                return name
    if " beat " in f" {line} ":
        return "beat"
    for command, name in (("aibot_gateway", "aibot"), ("startup_banner", "banner"),
                          ("demo_agent", "agent"), ("honcho", "honcho")):  # fmt: skip
        if command in line:
            return name
    return None


def processes(honcho: subprocess.Popen) -> dict[str, int]:
    """{label: pid} of the processes `make run` started (web workers and pool children
    numbered by pid)."""
    pids = process_tree(honcho.pid)
    gunicorns = [p for p in pids if role(p, None) == "web-worker"]
    # The master is the gunicorn whose parent is not one.
    master = next((p for p in gunicorns if int(_status(p).get("PPid", 0)) not in gunicorns), None)
    labelled: dict[str, list[int]] = {}
    for pid in sorted(pids):
        name = role(pid, master)
        if name:
            labelled.setdefault(name, []).append(pid)
    found = {}
    for name, group in labelled.items():
        for n, pid in enumerate(group):
            found[name if len(group) == 1 else f"{name}-{n + 1}"] = pid
    return found


def _status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def process_figures(pid: int) -> dict[str, float]:
    """RSS (MB), open descriptors, sockets among them, threads."""
    status = _status(pid)
    fds = sockets = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            fds += 1
            try:
                sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
            except OSError:
                pass
    except OSError:
        pass
    rss_kb = int(status.get("VmRSS", "0 kB").split()[0])
    return {
        "rss": rss_kb / 1024,
        "fds": fds,
        "sockets": sockets,
        "threads": int(status.get("Threads", 0)),
    }


# --- var/ -----------------------------------------------------------------------------------


def _folder(path: Path) -> tuple[int, int]:
    """(files, bytes) under `path`."""
    files = size = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            try:
                size += os.stat(os.path.join(dirpath, name)).st_size
                files += 1
            except OSError:
                pass
    return files, size


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def backends() -> str:
    """The database and broker the processes use, as this process's environment names them."""
    database = os.environ.get("DATABASE_URL", "sqlite").split(":", 1)[0]
    broker = os.environ.get("CELERY_BROKER_URL", "filesystem").split(":", 1)[0]
    return f"{'SQLite' if database == 'sqlite' else database}, {broker} broker"


def var_figures(folder: Path) -> dict[str, float]:
    broker = folder / "broker"
    figures = {}
    for sub in ("queue", "processed", "control"):
        figures[f"broker/{sub} files"] = _folder(broker / sub)[0]
    database = folder / "botadmin.sqlite3"
    figures["sqlite MB"] = _size(database) / 1e6
    figures["sqlite-wal MB"] = _size(database.with_name(database.name + "-wal")) / 1e6
    for name in ("media", "media-archive", "metrics"):
        files, size = _folder(folder / name)
        figures[f"{name} files"] = files
        figures[f"{name} MB"] = size / 1e6
    figures["log MB"] = _size(folder / "make-run.log") / 1e6
    figures["var files"], size = _folder(folder)
    figures["var MB"] = size / 1e6
    # beat's schedule, in the var dir (a shelve: .dat and more).
    figures["beat schedule KB"] = (
        sum(_size(path) for path in folder.glob("celerybeat-schedule*")) / 1e3
    )
    return figures


# --- The load -------------------------------------------------------------------------------


class Sender:
    """`rate` POSTs a second to /api/send, round robin to the conversations, from one thread
    per conversation group (so one slow answer does not hold the pace)."""

    def __init__(self, base: str, secret: str, conversations: list[str], rate: float):
        self.url = base + "/api/send"
        self.secret, self.conversations, self.rate = secret, conversations, rate
        self.accepted: list[str] = []
        self.refused: Counter = Counter()
        self.latencies: list[float] = []  # since the last take_latencies()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, threads: int = 2) -> None:
        began = time.monotonic()
        for t in range(threads):
            thread = threading.Thread(target=self._run, args=(began, t, threads), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def take_latencies(self) -> list[float]:
        with self._lock:
            taken, self.latencies = self.latencies, []
        return taken

    def _run(self, began: float, offset: int, step: int) -> None:
        session = requests.Session()
        n = offset
        while not self._stop.is_set():
            due = began + n / self.rate
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            conversation = self.conversations[n % len(self.conversations)]
            body = {"msgtype": "text", "text": {"content": f"soak {n}: all systems normal"}}
            start = time.perf_counter()
            try:
                answer = session.post(
                    self.url,
                    params={"secret": self.secret, "conversation_id": conversation},
                    json=body,
                    timeout=30,
                )
                outcome = "ok" if answered_ok(answer) else f"HTTP {answer.status_code}"
            except requests.RequestException as error:
                answer, outcome = None, error.__class__.__name__
                session = requests.Session()
            took = time.perf_counter() - start
            with self._lock:
                self.latencies.append(took)
                if outcome == "ok":
                    self.accepted.append(answer.json()["msgid"])
                else:
                    self.refused[outcome] += 1
            n += step


def dashboard_ms(base: str, session_cookie: str) -> float:
    """The median of three GETs of the dashboard, in ms (NaN if it did not answer 200)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        answer = requests.get(
            base + "/console/dashboard/", cookies={"sessionid": session_cookie}, timeout=30
        )
        if answer.status_code != 200 or "/login/" in answer.url:
            return float("nan")
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


class Scraper:
    """GET /metrics every `every` seconds with the token, as Prometheus scrapes it."""

    def __init__(self, base: str, every: float):
        self.url, self.every = base + "/metrics", every
        self.times: list[float] = []  # since the last take()
        self.size = self.series = self.failed = self.sources_down = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def take(self) -> dict[str, float]:
        with self._lock:
            times, self.times = self.times, []
        return {
            "scrape p50 ms": statistics.median(times) * 1000 if times else float("nan"),
            "scrape max ms": max(times) * 1000 if times else float("nan"),
            "scrape KB": self.size / 1e3,
            "scrape series": self.series,
            "scrapes failed": self.failed,
            "scrape sources down": self.sources_down,
        }

    def _run(self) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        while not self._stop.wait(self.every):
            start = time.perf_counter()
            try:
                answer = session.get(self.url, headers=headers, timeout=10)
            except requests.RequestException:
                answer, session = None, requests.Session()
            took = time.perf_counter() - start
            with self._lock:
                if answer is None or answer.status_code != 200:
                    self.failed += 1
                    continue
                self.times.append(took)
                lines = answer.text.splitlines()
                self.size = len(answer.content)
                self.series = sum(1 for line in lines if line and not line.startswith("#"))
                self.sources_down += sum(
                    1 for line in lines
                    if line.startswith("botadmin_scrape_source_up") and line.endswith(" 0.0")
                )  # fmt: skip


def redis_figures() -> dict[str, float]:
    """used_memory of the Redis server (shared: other databases count too) and the keys
    of the databases CELERY_BROKER_URL and CACHE_URL name (their bytes while few)."""
    urls = {
        os.environ[name]
        for name in ("CELERY_BROKER_URL", "CACHE_URL")
        if os.environ.get(name, "").startswith("redis://")
    }
    figures: dict[str, float] = {}
    for url in sorted(urls):
        client = redis.Redis.from_url(url)
        figures["redis used_memory MB"] = client.info("memory")["used_memory"] / 1e6
        db = client.connection_pool.connection_kwargs.get("db", 0)
        figures[f"redis db{db} keys"] = keys = client.dbsize()
        if keys <= 20_000:
            held = sum(client.memory_usage(key) or 0 for key in client.scan_iter(count=1000))
            figures[f"redis db{db} KB"] = held / 1e3
    return figures


class PostgresSizes:
    """The database's size, and for the tables written most since the first sample (not
    the set-up's migrations), followed from then on, their size with their indexes and
    TOAST (MB) and their dead rows. Nothing on another database."""

    def __init__(self, busiest: int = 6):
        self.busiest = busiest
        self.began: dict[str, int] | None = None
        self.followed: set[str] = set()

    @staticmethod
    def autovacuum() -> str | None:
        """PostgreSQL's autovacuum setting ("on", "off"); None on another database."""
        from django.db import connection

        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            return cursor.fetchone()[0]

    def __call__(self) -> dict[str, float]:
        from django.db import connection

        if connection.vendor != "postgresql":
            return {}
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            figures = {"pg database MB": cursor.fetchone()[0] / 1e6}
            cursor.execute(
                "SELECT relname, pg_total_relation_size(relid), n_dead_tup, "
                "n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
            )
            tables = cursor.fetchall()
        if self.began is None:
            self.began = {name: writes for name, _, _, writes in tables}
            return figures
        written = {name: writes - self.began.get(name, 0) for name, _, _, writes in tables}
        busiest = sorted((name for name in written if written[name] > 0), key=written.get)
        self.followed.update(busiest[-self.busiest :])
        for name, size, dead, _writes in tables:
            if name in self.followed:
                figures[f"pg {name} MB"] = size / 1e6
                figures[f"pg {name} dead"] = dead
        return figures


# --- Django in this process (the same database) ---------------------------------------------


def setup_django(env: dict) -> None:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    import django

    django.setup()


def configure_demo_bot(webhook_url: str) -> tuple[str, str]:
    """The demo bot with its webhook, its rate limit raised above the load; (its secret, its
    webhook signing secret)."""
    from conversations.models import Bot
    from forwarding.models import WebhookEndpoint

    bot = Bot.objects.get(name="demo")
    bot.webhook_url = webhook_url
    bot.rate_limit_per_minute = 6000
    bot.save()  # which makes its primary webhook endpoint
    endpoint = WebhookEndpoint.objects.get(bot=bot, is_primary=True)
    return bot.secret, endpoint.signing_secret


def admin_session() -> str:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    return client.cookies["sessionid"].value


def conversation_ids(timeout: float = 60) -> list[str]:
    """The demo bot's conversations, once the agent's contact sync made them."""
    from conversations.models import Conversation

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = sorted(
            Conversation.objects.filter(bot__name="demo").values_list("conversation_id", flat=True)
        )
        if len(ids) >= 7:
            return ids
        time.sleep(0.5)
    sys.exit("the demo agent's contact sync made no conversations")


def unfinished() -> tuple[int, int]:
    """(outbound messages not final, inbound messages not delivered to the webhook)."""
    from forwarding.models import WebhookDelivery
    from messaging.models import Message

    outbound = Message.objects.filter(
        bot__name="demo", direction=Message.Direction.OUT, status__in=Message.Status.UNFINISHED
    ).count()
    inbound = WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.DELIVERED).count()
    return outbound, inbound


# --- Reporting ------------------------------------------------------------------------------


def print_samples(samples: list[dict]) -> None:
    keys = [key for key in samples[-1] if key != "t"]
    print("\nSamples (minute: figure …)")
    print("figure".ljust(34) + "".join(f"{s['t'] / 60:>8.0f}" for s in samples))
    for key in keys:
        row = "".join(f"{_fmt(s.get(key, float('nan'))):>8}" for s in samples)
        print(key.ljust(34) + row)


def _fmt(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def print_growth(samples: list[dict]) -> None:
    """Each figure from the first sample after the warm-up to the last: ratio, and change an
    hour (a straight line through the samples after the warm-up)."""
    kept = samples[1:] if len(samples) > 2 else samples
    first, last = kept[0], kept[-1]
    print(
        f"\nGrowth from minute {first['t'] / 60:.0f} to minute {last['t'] / 60:.0f} "
        "(first, last, last/first, least-squares slope an hour)"
    )
    for key in last:
        if key == "t":
            continue
        a, b = first.get(key, float("nan")), last.get(key, float("nan"))
        ratio = b / a if a else float("nan")
        print(
            f"  {key:<32} {_fmt(a):>9} {_fmt(b):>9} {ratio:>8.2f} "
            f"{_slope(kept, key) * 3600:>+10.2f}/h"
        )


def _slope(samples: list[dict], key: str) -> float:
    points = [(s["t"], s[key]) for s in samples if key in s and s[key] == s[key]]
    if len(points) < 2:
        return float("nan")
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread if spread else 0.0


# --- The run --------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    os.umask(0o027)  # as `make run` creates var/ (the Makefile's PRIVATE)
    env = server_environment(
        args.port,
        "bench-soak",
        WEB_PORT=str(args.port),
        DEMO_AGENT_PORT=str(args.agent_port),
        BOTADMIN_PUBLIC_URL=f"http://127.0.0.1:{args.port}",
        BOTADMIN_ADMIN_PASSWORD=ADMIN_PASSWORD,
        BOTADMIN_METRICS_TOKEN=METRICS_TOKEN if args.scrape else "",
    )
    for name in ("BOTADMIN_BENCH_VIEWS", "LOG_LEVEL"):  # `make run` has neither
        env.pop(name, None)
    if "BOTADMIN_VAR_DIR" not in env:
        # DATABASE_URL (and CELERY_BROKER_URL, CACHE_URL) given: the rest of var/ (media,
        # metrics, the processes' log) still goes to a folder of its own, made afresh.
        env["BOTADMIN_VAR_DIR"] = str(ROOT / "var" / "bench-soak")
        shutil.rmtree(env["BOTADMIN_VAR_DIR"], ignore_errors=True)
        Path(env["BOTADMIN_VAR_DIR"]).mkdir(parents=True)
    folder = Path(env["BOTADMIN_VAR_DIR"])
    base = f"http://127.0.0.1:{args.port}"
    # `make setup`, as `make run` does first.
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    manage(env, "createcachetable")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    manage(env, "setup_demo")
    setup_django(env)
    with Receiver(port=args.receiver_port) as receiver:
        secret, signing_secret = configure_demo_bot(receiver.url("/hook"))
        receiver.signing_secret = signing_secret
        honcho = start_make_run(env, folder)
        try:
            run(args, base, folder, honcho, secret, receiver)
        finally:
            if honcho.poll() is None:
                os.killpg(honcho.pid, signal.SIGINT)  # Ctrl-C, as an operator stops make run
                try:
                    honcho.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(honcho.pid, signal.SIGKILL)


def run(args, base: str, folder: Path, honcho, secret: str, receiver: Receiver) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(base + "/healthz", timeout=5).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or honcho.poll() is not None:
            sys.exit(f"make run did not start: see {folder / 'make-run.log'}")
        time.sleep(0.5)
    conversations = conversation_ids()
    cookie = admin_session()
    print(
        f"botadmin soak: {args.minutes:g} minutes at {args.rate:g} /api/send a second to "
        f"{len(conversations)} conversations of the demo bot, the demo agent answering about "
        f"half; make run's processes ({backends()}) in {folder}; metrics "
        f"{f'scraped every {args.scrape:g} s' if args.scrape else 'off'}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    if PostgresSizes.autovacuum() == "off":  # a server set up for tests: dead rows stay
        print("PostgreSQL's autovacuum is off on this server: nothing vacuums the tables")
    sender = Sender(base, secret, conversations, args.rate)
    scraper = Scraper(base, args.scrape) if args.scrape else None
    postgres_figures = PostgresSizes()
    samples: list[dict] = []
    began = time.monotonic()
    sender.start()
    if scraper:
        scraper.start()
    end = began + args.minutes * 60
    next_sample = began
    while True:
        if honcho.poll() is not None:
            sys.exit(f"make run stopped (a process died): see {folder / 'make-run.log'}")
        now = time.monotonic()
        if now >= next_sample:
            samples.append(sample(now - began, honcho, folder, base, cookie, sender, receiver))
            samples[-1].update(scraper.take() if scraper else {})
            samples[-1].update(redis_figures())
            samples[-1].update(postgres_figures())
            line = samples[-1]
            print(
                f"  minute {line['t'] / 60:4.0f}: accepted {line['accepted']}, "
                f"forwarded {line['forwarded']}, unfinished {line['outbound unfinished']}/"
                f"{line['inbound unforwarded']}, dashboard {line['dashboard ms']:.0f} ms, "
                f"send p50 {line['send p50 ms']:.0f} ms, "
                f"RSS {line['RSS total MB']:.0f} MB, wal {line['sqlite-wal MB']:.1f} MB, "
                f"metrics {line['metrics files']} files {line['metrics MB']:.1f} MB, "
                f"scrape p50 {line.get('scrape p50 ms', float('nan')):.0f} ms",
                flush=True,
            )
            next_sample += args.sample
            if next_sample > end + 1:
                break
        time.sleep(min(1.0, max(0.0, next_sample - time.monotonic())))
    sender.stop()
    if scraper:
        scraper.stop()
    settled = settle(args.settle)
    print_samples(samples)
    print_growth(samples)
    check(sender, receiver, settled)


def sample(t, honcho, folder, base, cookie, sender, receiver) -> dict:
    figures: dict[str, float] = {"t": t}
    total_rss = 0.0
    for label, pid in sorted(processes(honcho).items()):
        if label.startswith("honcho"):
            continue
        for name, value in process_figures(pid).items():
            figures[f"{label} {name}"] = value
        total_rss += figures[f"{label} rss"]
    figures["RSS total MB"] = total_rss
    figures.update(var_figures(folder))
    figures["dashboard ms"] = dashboard_ms(base, cookie)
    latencies = sender.take_latencies()
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100)
        figures["send p50 ms"], figures["send p99 ms"] = cuts[49] * 1000, cuts[98] * 1000
    else:
        figures["send p50 ms"] = figures["send p99 ms"] = float("nan")
    figures["accepted"] = len(sender.accepted)
    figures["forwarded"] = len(receiver.requests)
    figures["outbound unfinished"], figures["inbound unforwarded"] = unfinished()
    return figures


def settle(timeout: float) -> float:
    """Seconds until every outbound message is final and every inbound one forwarded."""
    began = time.monotonic()
    while any(unfinished()) and time.monotonic() - began < timeout:
        time.sleep(1)
    return time.monotonic() - began


def check(sender: Sender, receiver: Receiver, settled: float) -> None:
    """Every accepted message `sent`; every inbound one posted to the receiver once (by its
    webhook-id, `msg_` + botadmin's msgid), which answered each 2xx: it answers 401 to a
    signature it cannot verify, when the post arrives (the timestamp is then fresh)."""
    from forwarding.models import WebhookAttempt, webhook_id_for
    from messaging.models import Message

    accepted = set(sender.accepted)
    statuses = Counter(
        Message.objects.filter(msgid__in=accepted).values_list("status", flat=True).iterator()
    )
    outbound = Counter(
        Message.objects.filter(bot__name="demo", direction=Message.Direction.OUT)
        .values_list("status", flat=True)
        .iterator()
    )
    inbound = {
        webhook_id_for(msgid)
        for msgid in Message.objects.filter(
            bot__name="demo", direction=Message.Direction.IN
        ).values_list("msgid", flat=True)
    }
    posts = Counter(request.headers.get("webhook-id", "") for request in list(receiver.requests))
    answers = Counter(WebhookAttempt.objects.values_list("http_status", flat=True))
    refused = sum(n for status, n in answers.items() if not (status and 200 <= status < 300))
    once = sum(1 for webhook_id in inbound if posts.get(webhook_id) == 1)
    never = sum(1 for webhook_id in inbound if webhook_id not in posts)
    print(f"\nSettled {settled:.0f} s after the load stopped.")
    print(
        f"Outbound: {len(accepted)} accepted ({dict(sender.refused) or 'none'} refused), "
        f"their statuses {dict(statuses)}; every outbound row of the bot {dict(outbound)}"
    )
    print(
        f"Inbound: {len(inbound)} stored; the receiver got {sum(posts.values())} posts: "
        f"each message once {once}, never {never}, more than once {len(inbound) - once - never}; "
        f"its answers {dict(answers)}"
    )
    ok = statuses == Counter({"sent": len(accepted)}) and once == len(inbound) and not refused
    print("PASS" if ok else "FAIL")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
