"""Benchmark `GET /api/groups` with 50,000 groups in the table.

    .venv/bin/python bench/lists.py                       # SQLite in a temporary folder
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/lists.py

It fills the database (two bots: `bench-big` owns all but 50 of the groups,
`bench-small` owns 50), starts gunicorn the way `make run` does
(botadmin/gunicorn_conf.py, BOTADMIN_BENCH_VIEWS=1) on 127.0.0.1, and drives
each endpoint with a fixed number of concurrent clients for a bounded time.
It prints requests/s, p50 and p99 for:

* baseline      /bench/lists/json: a small JSON answer, no database
* small bot     /api/groups for a bot with 50 groups (in the 50,000-row table)
* q= search     /api/groups?q=… on the big bot (a few matches)
* full list     /api/groups of the big bot: every one of its groups
* static bytes  /bench/lists/static: a prebuilt answer the size of the full list

and the ratios to the baseline (and of the full list to the static bytes).
Everything stays on 127.0.0.1; every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SMALL = 50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=8, help="per endpoint")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8199")))
    parser.add_argument("--max-requests", type=int, default=20_000, help="per endpoint")
    args = parser.parse_args()

    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        env["BOTADMIN_VAR_DIR"] = tempfile.mkdtemp(prefix="botadmin-bench-")
    env.update(
        BOTADMIN_BENCH_VIEWS="1",
        DJANGO_SETTINGS_MODULE="botadmin.settings",
        PORT=str(args.port),
        LOG_LEVEL="WARNING",
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    big_secret, small_secret, engine = prepare_database(args.groups)

    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "botadmin/gunicorn_conf.py", "botadmin.wsgi"],
        cwd=ROOT,
        env={**env, "GUNICORN_CMD_ARGS": "--access-logfile /dev/null"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(base + "/healthz")
        big = args.groups - SMALL
        scenarios = [
            ("baseline", "/bench/lists/json", None),
            ("small bot", f"/api/groups?secret={small_secret}", active_of(SMALL)),
            ("q= search", f"/api/groups?secret={big_secret}&q=group 0001", None),
            ("full list", f"/api/groups?secret={big_secret}", active_of(big)),
            ("static bytes", f"/bench/lists/static?n={big}", big),
        ]
        print(
            f"/api/groups, {args.groups:,} groups in the table, {engine}, "
            f"{args.concurrency} clients, {args.seconds:g} s per endpoint, "
            f"gunicorn {os.environ.get('WEB_CONCURRENCY', 'default')} workers"
        )
        print(f"{'endpoint':<14}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'KB':>9}{'ratio':>9}")
        results = {}
        for name, path, expect in scenarios:
            rps, p50, p99, size = load(base + path, expect, args)
            results[name] = rps
            ratio = rps / results["baseline"]
            print(f"{name:<14}{rps:>10.1f}{p50:>10.1f}{p99:>10.1f}{size / 1024:>9.0f}{ratio:>9.3f}")
        print(
            f"full list / static bytes: {results['full list'] / results['static bytes']:.2f} "
            "(1.00 = the database and serialisation cost nothing)"
        )
    finally:
        server.terminate()
        try:
            server.wait(30)  # a busy machine can take a while to stop the workers
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return 0


def prepare_database(groups: int) -> tuple[str, str, str]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from conversations.models import Bot, Conversation

    call_command("migrate", verbosity=0)
    secrets = []
    for name, count, offset in (("bench-big", groups - SMALL, 0), ("bench-small", SMALL, 10**8)):
        bot, _ = Bot.objects.get_or_create(
            name=name, defaults={"agent_url": "http://127.0.0.1:9", "agent_token": "t" * 40}
        )
        if bot.conversations.count() != count:
            bot.conversations.all().delete()
            Conversation.objects.bulk_create(
                (
                    Conversation(
                        bot=bot,
                        conversation_id=f"wrBench{offset + i:08d}",
                        kind=Conversation.Kind.GROUP,
                        name=f"bench group {i:06d}",
                        member_count=i % 500,
                        # A tenth are inactive: the list must skip them through the index.
                        is_active=i % 10 != 0,
                    )
                    for i in range(count)
                ),
                batch_size=2000,
            )
        secrets.append(bot.secret)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE conversations_conversation")
    engine = connection.vendor
    connection.close()
    return secrets[0], secrets[1], engine


def active_of(count: int) -> int:
    """Groups of a bench bot the list answers: all but every tenth (inactive)."""
    return count - (count + 9) // 10


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer at {url}")


def load(url: str, expect: int | None, args) -> tuple[float, float, float, int]:
    """Concurrent clients for a bounded time and count; (req/s, p50 ms, p99 ms, bytes)."""
    first = requests.get(url, timeout=30)
    body = first.json()
    assert first.status_code == 200 and body["errcode"] == 0, first.text[:200]
    if expect is not None:
        assert len(body["data"]) == expect, (len(body["data"]), expect)
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds
    budget = [args.max_requests]

    def client():
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            started = time.perf_counter()
            response = session.get(url, timeout=30)
            response.content  # noqa: B018  (read the whole answer)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
            with lock:
                latencies.append(elapsed)

    began = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return (
        len(latencies) / wall,
        statistics.median(latencies) * 1000,
        p99 * 1000,
        len(first.content),
    )


if __name__ == "__main__":
    sys.exit(main())
