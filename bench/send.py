"""Benchmark of POST /api/send against the production server, beside two baselines.

    .venv/bin/python bench/send.py [--requests 5000] [--threads 8] [--port 8103]

Starts gunicorn exactly as `make run` does (botadmin/gunicorn_conf.py) with
BOTADMIN_BENCH_VIEWS on, on its own SQLite database in var/bench/ — or on
DATABASE_URL / CACHE_URL / CELERY_BROKER_URL when they are set — and posts
the same text message from several client threads to:

* /bench/send/parse   parse the JSON and answer;
* /bench/send/insert  parse and insert one message row in one transaction, the
                 cost floor of durable acceptance;
* /api/send      the real thing: secret, rate limit, validation,
                 conversation, insert, enqueue after commit.

Prints accepted requests/s and p50/p99 latency of each, and the ratio of
/api/send to /bench/send/insert: the figure we track (aim: at least 0.7). The
rate limit stays on, set high enough not to refuse, so its cost is counted.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BODY = json.dumps({"msgtype": "text", "text": {"content": "bench: the nightly backup finished"}})
SETUP = """
import json
from conversations.models import Bot, Conversation
bot = Bot.objects.filter(name="bench").first() or Bot.objects.create(
    name="bench", connector="bridge", agent_url="http://127.0.0.1:9")
conversation, _ = Conversation.objects.get_or_create(bot=bot, conversation_id="wrBench")
print(json.dumps({"bot": bot.pk, "conversation": conversation.pk, "secret": bot.secret}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per endpoint")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8103")))
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    env = server_environment(args.port)
    database = env.get("DATABASE_URL", "sqlite (var/bench)")
    print(f"database: {database.split('@')[-1]}   cache: {env.get('CACHE_URL', 'dbcache')}")
    manage = [str(ROOT / ".venv/bin/python"), "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "createcachetable"], cwd=ROOT, env=env, check=True)
    ids = json.loads(
        subprocess.run(
            [*manage, "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True
        ).stdout.splitlines()[-1]
    )
    base = f"http://127.0.0.1:{args.port}"
    targets = [
        ("parse JSON and answer", f"{base}/bench/send/parse"),
        (
            "parse + insert one row",
            f"{base}/bench/send/insert?bot={ids['bot']}&conversation={ids['conversation']}",
        ),
        ("/api/send", f"{base}/api/send?secret={ids['secret']}&conversation_id=wrBench"),
    ]
    server = start_server(env, base)
    try:
        results = []
        for name, url in targets:
            run(url, args.warmup, args.threads)
            results.append((name, *run(url, args.requests, args.threads)))
    finally:
        server.terminate()
        server.wait(timeout=30)

    workers = env.get("WEB_CONCURRENCY", "default")
    print(f"{args.requests} requests per endpoint, {args.threads} client threads, "
          f"gunicorn workers={workers} threads={env.get('WEB_THREADS', '4')}")  # fmt: skip
    print(f"{'endpoint':<26}{'accepted':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for name, accepted, rate, p50, p99 in results:
        print(f"{name:<26}{accepted:>10}{rate:>10.0f}{p50:>9.1f}{p99:>9.1f}")
    floor = results[1][2]
    print(f"ratio /api/send ÷ parse+insert: {results[2][2] / floor:.2f}  (aim ≥ 0.70)")
    if results[2][1] != args.requests:
        sys.exit("not every /api/send request was accepted")


def server_environment(port: int) -> dict:
    env = {
        **os.environ,
        "WEB_PORT": str(port),
        "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
        "BOTADMIN_BENCH_VIEWS": "1",
        "BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE": "100000000",
        "LOG_LEVEL": "WARNING",
    }
    if "DATABASE_URL" not in os.environ:
        var = ROOT / "var" / "bench"
        shutil.rmtree(var, ignore_errors=True)
        var.mkdir(parents=True)
        env["BOTADMIN_VAR_DIR"] = str(var)
    return env


def start_server(env: dict, base: str) -> subprocess.Popen:
    # The web line of the Procfile `make run` starts; the access log is
    # dropped so that writing it does not weigh on one endpoint more than another.
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "botadmin/gunicorn_conf.py", "botadmin.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(base + "/healthz", timeout=5).ok:
                return server
        except requests.RequestException:
            time.sleep(0.2)
    server.terminate()
    sys.exit("gunicorn did not start")


def run(url: str, total: int, threads: int) -> tuple[int, float, float, float]:
    """Post `total` requests from `threads` threads; (accepted, req/s, p50 ms, p99 ms)."""
    latencies: list[float] = []
    accepted = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def worker():
        nonlocal accepted
        session = requests.Session()
        headers = {"Content-Type": "application/json"}
        mine, ok = [], 0
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            start = time.perf_counter()
            response = session.post(url, data=BODY, headers=headers, timeout=30)
            mine.append(time.perf_counter() - start)
            ok += response.status_code == 200 and response.json().get("errcode") == 0
        with lock:
            latencies.extend(mine)
            accepted += ok

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return accepted, accepted / elapsed, cuts[49] * 1000, cuts[98] * 1000


if __name__ == "__main__":
    main()
