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
/api/send to /bench/send/insert: the figure we track (aim: at least 0.7).
The endpoints take turns in rounds (--rounds, each a share of the
requests), so a drift of the shared machine during the run (another
process, the database growing, autovacuum) weighs on each of them alike; the
ratio of each round is printed too, and the figure is the ratio of the totals. The
rate limit stays on, set high enough not to refuse, so its cost is counted.
Also how many broker messages the wake-ups of the measured /api/send requests
took (no worker runs, so they stay queued): publishing one costs about as much
as a request, and waiting ones merge (botadmin/wakeups.py).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    broker_messages,
    manage,
    post_in_rounds,
    post_many,
    server_environment,
    start_server,
)

BODY = json.dumps(
    {"msgtype": "text", "text": {"content": "bench: the nightly backup finished"}}
).encode()
SETUP = """
import json
from conversations.models import Bot, Conversation
bot = Bot.objects.filter(name="bench").first() or Bot.objects.create(
    name="bench", agent_url="http://127.0.0.1:9")
conversation, _ = Conversation.objects.get_or_create(bot=bot, conversation_id="wrBench")
print(json.dumps({"bot": bot.pk, "conversation": conversation.pk, "secret": bot.secret}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per endpoint")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8103")))
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="turns each endpoint takes")
    args = parser.parse_args()

    env = server_environment(args.port, "bench", BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE="100000000")
    database = env.get("DATABASE_URL", "sqlite (var/bench)")
    print(f"database: {database.split('@')[-1]}   cache: {env.get('CACHE_URL', 'dbcache')}")
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "createcachetable")
    ids = json.loads(manage(env, "shell", "-c", SETUP, capture=True).splitlines()[-1])
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
        for _name, url in targets:
            post_many(url, lambda _i: BODY, args.warmup, args.threads)
        time.sleep(1)  # the warm-up's last wake-ups leave
        queued = broker_messages(env)
        totals, rounds = post_in_rounds(
            [(url, lambda _i: BODY) for _name, url in targets],
            args.requests,
            args.rounds,
            args.threads,
        )
        time.sleep(1)
        published = None if queued is None else broker_messages(env) - queued
    finally:
        server.terminate()
        server.wait(timeout=30)

    workers = env.get("WEB_CONCURRENCY", "default")
    print(f"{args.requests} requests per endpoint in {len(rounds)} rounds, {args.threads} client "
          f"threads, gunicorn workers={workers} threads={env.get('WEB_THREADS', '4')}")  # fmt: skip
    print(f"{'endpoint':<26}{'accepted':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    results = [(name, *total) for (name, _url), total in zip(targets, totals, strict=True)]
    for name, accepted, rate, p50, p99 in results:
        print(f"{name:<26}{accepted:>10}{rate:>10.0f}{p50:>9.1f}{p99:>9.1f}")
    each = "  ".join(f"{round_[2] / round_[1]:.2f}" for round_ in rounds)
    print(f"ratio /api/send ÷ parse+insert: {results[2][2] / results[1][2]:.2f}  (aim ≥ 0.70)"
          f"   by round: {each}")  # fmt: skip
    if published is not None:
        print(f"wake-ups: {published} broker messages for {results[2][1]} accepted /api/send")
    if results[2][1] != args.requests:
        sys.exit("not every /api/send request was accepted")


if __name__ == "__main__":
    main()
