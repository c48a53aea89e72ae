"""Benchmark of GET /metrics and GET /readyz, and what metrics cost /api/send.

    .venv/bin/python bench/metrics.py [--bots 200] [--scrapes 200] [--sends 2000] [--rounds 3]
    .venv/bin/python bench/metrics.py --bots 1000 --scrape-only   # /metrics alone

Starts gunicorn as `make run` does (on its own SQLite database in var/bench-metrics/,
or on DATABASE_URL / CACHE_URL / CELERY_BROKER_URL when set) with 200 bots (`--bots`),
each with a webhook endpoint, and 10,000 queued messages, after one /api/send per bot so
every bot has counters in the web processes' files; a worker's file (written by the set-up)
holds each bot's sent, failed, uncertain, converted and inbound counts, as after a day.

* /metrics: p50 / p95 of one scrape (aim: ≤ 100 ms), its size, samples, and the
  queries each source runs (counted apart, in a shell);
* /readyz: p50 / p95 with everything up (aim p95 ≤ 50 ms; every role's
  heartbeat is written by the benchmark), and with a broker that accepts
  connections and never answers (aim ≤ 2 s);
* /api/send accepted per second with metrics on (BOTADMIN_METRICS_TOKEN set) and
  off, in alternating rounds; the figure is the median cost (aim ≤ 3 %).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, manage, post_many, server_environment, start_server  # noqa: E402

TOKEN = "bench-metrics-token"
BODY = json.dumps({"msgtype": "text", "text": {"content": "bench: metrics"}}).encode()
SETUP = """
import json
from django.utils import timezone
from conversations.models import Bot, Conversation
from messaging.models import Message
from botadmin import health
from forwarding.models import WebhookEndpoint
names = [f"bench-{n:04}" for n in range(BOTS)]
others = Bot.objects.filter(name__startswith="bench-").exclude(name__in=names)
Message.objects.filter(bot__in=others).delete()  # protected: gone before their bots
Conversation.objects.filter(bot__in=others).delete()
others.delete()
bots = [Bot.objects.filter(name=name).first() or Bot.objects.create(
    name=name, agent_url="http://127.0.0.1:9", rate_limit_per_minute=100000) for name in names]
conversations = [Conversation.objects.get_or_create(bot=bot, conversation_id="wrBench")[0]
    for bot in bots]
Message.objects.filter(bot__in=bots).delete()
WebhookEndpoint.objects.filter(bot__in=bots).delete()
WebhookEndpoint.objects.bulk_create([WebhookEndpoint(bot=bot, url="http://127.0.0.1:9/hook")
    for bot in bots])
body = {"msgtype": "text", "text": {"content": "queued"}}
later = timezone.now() + timezone.timedelta(days=1)  # due tomorrow: no /readyz queue alarm
Message.objects.bulk_create([Message(bot=c.bot, conversation=c, direction="out", msgtype="text",
    body=body, status="queued", source="api", next_attempt_at=later)
    for i in range(10_000) for c in [conversations[i % BOTS]]], batch_size=1000)
print(json.dumps([bot.secret for bot in bots]))
"""
# A Celery worker's counts for every bot, in the worker role's folder (gunicorn's start
# empties only the web and "other" folders of dead processes' files).
WORKER_COUNTS = """
import os
from django.conf import settings
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.BOTADMIN_METRICS_DIR / "worker")
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
from botadmin import metrics
from conversations.models import Bot
for name, connector in Bot.objects.filter(name__startswith="bench-").values_list(
        "name", "connector"):
    for counter in (metrics.MESSAGES_SENT, metrics.MESSAGES_FAILED, metrics.MESSAGES_UNCERTAIN,
                    metrics.MESSAGES_CONVERTED, metrics.INBOUND_MESSAGES):
        counter.labels(name, connector).inc()
    metrics.DELIVERY_LATENCY.labels(connector).observe(0.3)
"""
# Each source's queries, counted apart on this thread (a scrape runs them on threads of
# their own).
QUERIES = """
import json, statistics, time
from django.db import connection
from django.test.utils import CaptureQueriesContext
from botadmin import metrics
counts = {}
for name, source in metrics.SOURCES.items():
    list(source.collect())  # warm: the cache's and the connection's first use
    with CaptureQueriesContext(connection) as queries:
        list(source.collect())
    counts[name] = len(queries.captured_queries)
cpu = []  # the process's CPU time of one whole scrape (its threads'): the machine's load aside
for _ in range(30):
    began = time.process_time()
    metrics.exposition()
    cpu.append((time.process_time() - began) * 1000)
print(json.dumps({"queries": counts, "cpu_ms": statistics.median(cpu)}))
"""
BEATS = (
    "from botadmin import health\nfor role in health.HEARTBEAT_ROLES: health.record_heartbeat(role)"
)


def timed_gets(url: str, count: int, headers=None) -> tuple[float, float]:
    session = requests.Session()
    times = []
    for _ in range(count):
        began = time.perf_counter()
        session.get(url, headers=headers, timeout=30)
        times.append((time.perf_counter() - began) * 1000)
    cuts = statistics.quantiles(times, n=100)
    return cuts[49], cuts[94]


class SilentBroker:
    """Accepts connections, never answers."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.server.accept()[0])
            except OSError:
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=200)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument(
        "--scrape-only", action="store_true", help="time /metrics only (no /readyz, no sends)"
    )
    parser.add_argument("--sends", type=int, default=2000, help="/api/send requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="on/off pairs for the send cost")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8104")))
    args = parser.parse_args()

    env = server_environment(
        args.port, "bench-metrics", BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE="100000000"
    )
    if "BOTADMIN_VAR_DIR" not in env:  # on DATABASE_URL: no counts of an earlier run's bots
        env["BOTADMIN_METRICS_DIR"] = str(ROOT / "var" / "bench-metrics" / "metrics")
        shutil.rmtree(env["BOTADMIN_METRICS_DIR"], ignore_errors=True)
    on = {**env, "BOTADMIN_METRICS_TOKEN": TOKEN}
    off = {**env, "BOTADMIN_METRICS_TOKEN": ""}
    print(f"database: {env.get('DATABASE_URL', 'sqlite (var/bench-metrics)').split('@')[-1]}")
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "createcachetable")
    setup = f"BOTS = {args.bots}\n" + SETUP
    secrets = json.loads(manage(env, "shell", "-c", setup, capture=True).splitlines()[-1])
    manage(on, "shell", "-c", WORKER_COUNTS)
    base = f"http://127.0.0.1:{args.port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    server = start_server(on, base)
    try:
        session = requests.Session()
        for secret in secrets:  # one accepted message per bot: every bot's counters
            sent = session.post(f"{base}/api/send?secret={secret}&conversation_id=wrBench",
                                data=BODY, headers={"Content-Type": "application/json"},
                                timeout=30)  # fmt: skip
            if sent.json().get("errcode") != 0:
                sys.exit(f"/api/send refused: {sent.text}")
        answer = session.get(f"{base}/metrics", headers=auth, timeout=30)
        text, size = answer.text, len(answer.content)
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        down = [
            sample.labels["source"]
            for family in text_string_to_metric_families(text)
            if family.name == "botadmin_scrape_source_up"
            for sample in family.samples
            if sample.value == 0
        ]
        if down:  # a scrape without the database is quicker and would flatter the figure
            sys.exit(f"/metrics left out {', '.join(down)} (see the server's log)")
        timed_gets(f"{base}/metrics", 20, auth)
        scrape = timed_gets(f"{base}/metrics", args.scrapes, auth)
        shell = json.loads(manage(on, "shell", "-c", QUERIES, capture=True).splitlines()[-1])
        print(
            f"/metrics: {series} samples, {size / 1000:.0f} KB, {args.bots} bots, 10,000 "
            f"queued; {args.scrapes} scrapes: p50 {scrape[0]:.1f} ms, p95 {scrape[1]:.1f} ms  "
            f"(aim p95 ≤ 100 ms); queries by source: "
            + ", ".join(f"{name} {n}" for name, n in shell["queries"].items())
            + f"; CPU of one scrape in a shell: median {shell['cpu_ms']:.1f} ms",
            flush=True,
        )
        if args.scrape_only:
            return
        manage(env, "shell", "-c", BEATS)
        timed_gets(f"{base}/readyz", 20)  # every gunicorn worker has loaded its URLs
        ready_status = session.get(f"{base}/readyz", timeout=30).status_code
        ready = timed_gets(f"{base}/readyz", args.scrapes)
        print(f"/readyz well (HTTP {ready_status}): p50 {ready[0]:.1f} ms, "
              f"p95 {ready[1]:.1f} ms  (aim p95 ≤ 50 ms)", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)

    silent = SilentBroker()
    hung_env = {**on, "CELERY_BROKER_URL": f"redis://127.0.0.1:{silent.port}/0"}
    server = start_server(hung_env, base)
    try:
        timed_gets(f"{base}/healthz", 40)  # every gunicorn worker has loaded its URLs
        hung_status = requests.get(f"{base}/readyz", timeout=30).status_code
        hung = timed_gets(f"{base}/readyz", 20)
        print(f"/readyz, broker hung (HTTP {hung_status}): p50 {hung[0]:.0f} ms, "
              f"p95 {hung[1]:.0f} ms  (aim ≤ 2000 ms)", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)

    rates = {"on": [], "off": []}
    url = f"{base}/api/send?secret={secrets[0]}&conversation_id=wrBench"
    for _round in range(args.rounds):
        for name, environment in (("on", on), ("off", off)):
            server = start_server(environment, base)
            try:
                post_many(url, lambda _i: BODY, 200, args.threads)
                accepted, rate, _p50, _p99 = post_many(
                    url, lambda _i: BODY, args.sends, args.threads
                )
            finally:
                server.terminate()
                server.wait(timeout=30)
            if accepted != args.sends:
                sys.exit(f"only {accepted} of {args.sends} sends accepted")
            rates[name].append(rate)
            print(f"/api/send with metrics {name}: {rate:.0f} req/s", flush=True)

    pairs = [1 - r_on / r_off for r_on, r_off in zip(rates["on"], rates["off"], strict=True)]
    print("/api/send req/s with metrics on: " + ", ".join(f"{r:.0f}" for r in rates["on"]))
    print("/api/send req/s with metrics off: " + ", ".join(f"{r:.0f}" for r in rates["off"]))
    print(f"cost of metrics on /api/send: median {statistics.median(pairs) * 100:+.1f} % "
          f"(rounds: {', '.join(f'{p * 100:+.1f}' for p in pairs)}; aim ≤ 3 %)")  # fmt: skip


if __name__ == "__main__":
    main()
