"""Benchmark of POST /api/callback (agents reporting messages) and of forwarding them.

    .venv/bin/python bench/inbound.py [--events 5000] [--threads 8] [--port 8105]

1. Starts gunicorn as `make run` does, with BOTADMIN_BENCH_VIEWS on, and posts
   N inbound text events (each its own msgid) from several client threads to
   /bench/send/parse (parse JSON and answer), /bench/send/insert (parse and insert one
   row: the floor of durable acceptance) and /api/callback (secret, validation,
   conversation upsert, message marked for forwarding, wake-up after commit;
   the worker creates the webhook delivery).
   Prints events/s and p50/p99 latency of each, and the ratio of
   /api/callback to the insert baseline (the figure we track; aim ≥ 0.7).
2. Starts a Celery worker as `make run` does, posts N more events, and
   measures the time from the first post until the local receiver has them
   all, beside a plain loop posting the same N bodies to that receiver.
3. Posts N more events with no worker running, then starts one and measures
   the time from the first forwarded event to the last ("backlog": the
   forwarding engine alone, not bounded by the callbacks' accept rate).

Also the forwarding task messages the callbacks' wake-ups published: those queued
by steps 1 and 3 (no worker runs), and those step 2's worker received (its log).
Step 2 starts on an empty forwarding queue with nothing waiting to be forwarded
(step 1's callbacks are marked forwarded): it forwards its own events only.

Runs on its own SQLite database in var/bench-inbound/ unless DATABASE_URL /
CACHE_URL / CELERY_BROKER_URL are set.
"""

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    ROOT,
    CpuMeter,
    broker_messages,
    database_backends,
    manage,
    post_in_rounds,
    post_many,
    process_tree,
    server_environment,
    start_server,
    tasks_received,
)
from devtools.processes import celery_worker, stop_process_group  # noqa: E402
from devtools.receiver import Receiver  # noqa: E402

SETUP = """
import json
from conversations.models import Bot, Conversation
bot = Bot.objects.filter(name="bench-inbound").first() or Bot(
    name="bench-inbound", agent_url="http://127.0.0.1:9")
bot.webhook_url = "{webhook_url}"
bot.save()
conversation, _ = Conversation.objects.get_or_create(bot=bot, conversation_id="wrBench")
print(json.dumps({{"bot": bot.pk, "conversation": conversation.pk, "secret": bot.secret}}))
"""
FORGET_DELIVERIES = """
from forwarding.models import WebhookDelivery
from messaging.models import Message
WebhookDelivery.objects.update(status="delivered", next_attempt_at=None)
Message.objects.filter(forward_pending=True).update(forward_pending=False)
"""
# The forwarding tasks a callback's wake-up may be (a merged or handed-on one included).
FORWARD_TASKS = ("messaging.forward_", "forwarding.forward_")


# msgids are unique per run: a database kept between runs would drop repeats as duplicates.
RUN = uuid.uuid4().hex[:8]


def event(secret: str, msgid: str) -> bytes:
    return json.dumps(
        {
            "secret": secret,
            "msgtype": "text",
            "conversation_id": "wrBench",
            "sender": "zhangsan",
            "text": {"content": "bench: 明天上午十点开会"},
            "msgid": f"{RUN}-{msgid}",
            "timestamp": int(time.time()),
            "conversation_type": "group",
            "conversation_name": "Bench group",
            "sender_name": "张三",
        },
        ensure_ascii=False,
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events per endpoint")
    parser.add_argument("--threads", type=int, default=8, help="client threads")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8105")))
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="turns each endpoint takes")
    args = parser.parse_args()

    env = server_environment(args.port, "bench-inbound")
    print(f"database: {env.get('DATABASE_URL', 'sqlite (var/bench-inbound)').split('@')[-1]}   "
          f"broker: {env.get('CELERY_BROKER_URL', 'filesystem')}")  # fmt: skip
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "createcachetable")
    with Receiver() as receiver:
        ids = json.loads(
            manage(
                env, "shell", "-c", SETUP.format(webhook_url=receiver.url("/hook")), capture=True
            ).splitlines()[-1]
        )
        base = f"http://127.0.0.1:{args.port}"
        broker_messages(env, "forwarding", purge=True)  # what an earlier run left there
        server = start_server(env, base)
        try:
            results, each_round = measure_callback(base, ids, args)
            # Step 1's wake-ups and the messages they name are not step 2's to forward.
            accept_wakeups = broker_messages(env, "forwarding", purge=True)
            manage(env, "shell", "-c", FORGET_DELIVERIES)
            forwarded, posted, loop, cpu, live_wakeups = measure_forwarding(
                env, server, base, ids["secret"], receiver, args
            )
            backlog, backlog_wakeups = measure_backlog(env, base, ids["secret"], receiver, args)
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"{args.events} events per endpoint, {args.threads} client threads, "
          f"gunicorn workers={env.get('WEB_CONCURRENCY', 'default')} threads={env.get('WEB_THREADS', '4')}")  # fmt: skip
    print(f"{'endpoint':<26}{'accepted':>10}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for name, accepted, rate, p50, p99 in results:
        print(f"{name:<26}{accepted:>10}{rate:>10.0f}{p50:>9.1f}{p99:>9.1f}")
    print(f"ratio /api/callback ÷ parse+insert: {results[2][2] / results[1][2]:.2f}  (aim ≥ 0.70)"
          f"   by round: {each_round}")  # fmt: skip
    print(f"forwarded {args.events} events to a local receiver in {forwarded:.1f} s "
          f"({args.events / forwarded:.0f}/s) after the first post, "
          f"{forwarded - posted:.1f} s after the last callback was answered; "
          f"a plain loop posting the same bodies: {loop:.1f} s ({args.events / loop:.0f}/s); "
          f"ratio {loop / forwarded:.2f}")  # fmt: skip
    print(f"ceiling: /api/callback alone (no worker) accepted {results[2][2]:.0f}/s, "
          f"{results[2][2] * loop / args.events:.2f} of the plain loop: forwarding end to end "
          f"cannot beat it on this machine")  # fmt: skip
    print(f"CPU ms per forwarded event (callback accepted, stored, forwarded): "
          f"{cpu.per_item(args.events)}")  # fmt: skip
    print(f"backlog: {args.events} events accepted with no worker running, forwarded in "
          f"{backlog:.1f} s ({args.events / backlog:.0f}/s) from the first one the receiver got; "
          f"ratio to the plain loop {loop / backlog:.2f}")  # fmt: skip
    callbacks = args.warmup + results[2][1]
    print(f"forwarding task messages published: {accept_wakeups} for the {callbacks} callbacks "
          f"of step 1 (no worker), {live_wakeups} while forwarding {args.events} "
          f"(received by the worker), {backlog_wakeups} for the {args.events} of the backlog "
          f"(no worker)")  # fmt: skip
    if results[2][1] != args.events:
        sys.exit("not every callback was accepted")


def measure_callback(base: str, ids: dict, args) -> list[tuple]:
    secret = ids["secret"]
    targets = [
        ("parse JSON and answer", f"{base}/bench/send/parse", "p"),
        (
            "parse + insert one row",
            f"{base}/bench/send/insert?bot={ids['bot']}&conversation={ids['conversation']}",
            "i",
        ),
        ("/api/callback", f"{base}/api/callback", "c"),
    ]
    for _name, url, prefix in targets:
        post_many(
            url, lambda n, p=prefix: event(secret, f"{p}-warm-{n}"), args.warmup, args.threads
        )
    totals, rounds = post_in_rounds(
        [(url, lambda n, p=prefix: event(secret, f"{p}-{n}")) for _name, url, prefix in targets],
        args.events,
        args.rounds,
        args.threads,
    )
    each = "  ".join(f"{round_[2] / round_[1]:.2f}" for round_ in rounds)
    return [(name, *total) for (name, _url, _p), total in zip(targets, totals, strict=True)], each


def measure_forwarding(env, server, base, secret, receiver, args):
    """(seconds until all forwarded, seconds posting, seconds of the plain loop, CPU meter,
    forwarding task messages the worker received meanwhile)."""
    log = var_folder(env) / "worker-forwarding.log"
    # As the Procfile runs it, logging each task message it receives.
    worker = celery_worker(pool=None, concurrency=2, loglevel="INFO", env=env, stderr=log)
    cpu = CpuMeter(
        web=lambda: process_tree(server.pid),
        worker=lambda: process_tree(worker.pid),
        database=database_backends,
        clients_and_receiver=lambda: [os.getpid()],
    )
    try:
        # Warm up: the worker is ready once a first event comes through.
        before = len(receiver.requests)
        post_many(f"{base}/api/callback", lambda n: event(secret, f"fw-warm-{n}"), 2, 1)
        receiver.wait_for(before + 2, timeout=60)
        start_count = len(receiver.requests)
        received_before = forward_tasks_received(log)
        cpu.start()
        began = time.perf_counter()
        post_many(
            f"{base}/api/callback", lambda n: event(secret, f"fw-{n}"), args.events, args.threads
        )
        posted = time.perf_counter() - began
        receiver.wait_for(start_count + args.events, timeout=600)
        forwarded = time.perf_counter() - began
        cpu.stop()
        if len(receiver.requests) < start_count + args.events:
            sys.exit(f"only {len(receiver.requests) - start_count} of {args.events} forwarded")
        wakeups = settled_forward_tasks(env, log) - received_before
    finally:
        stop_process_group(worker, timeout=30)
    bodies = [request.body for request in receiver.requests[start_count:]]
    session = requests.Session()
    began = time.perf_counter()
    for body in bodies:
        session.post(receiver.url("/hook"), data=body, headers={"Content-Type": "application/json"})
    return forwarded, posted, time.perf_counter() - began, cpu, wakeups


def var_folder(env: dict) -> Path:
    folder = Path(env.get("BOTADMIN_VAR_DIR", ROOT / "var" / "bench-inbound"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def forward_tasks_received(log: Path) -> int:
    received = tasks_received(log)
    return sum(count for name, count in received.items() if name.startswith(FORWARD_TASKS))


def settled_forward_tasks(env: dict, log: Path, quiet: float = 2.0) -> int:
    """The forwarding task messages the worker received, once none is queued and its log
    has not counted a new one for `quiet` seconds (at most a minute)."""
    counted, since = forward_tasks_received(log), time.monotonic()
    deadline = since + 60
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = forward_tasks_received(log)
        if now != counted or broker_messages(env, "forwarding"):
            counted, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return counted


def measure_backlog(env, base, secret, receiver, args) -> tuple[float, int | None]:
    """Seconds the worker takes to forward N events accepted while it was not running,
    from the first one the receiver got (the worker's start-up is not counted), and the
    forwarding task messages their wake-ups queued."""
    post_many(f"{base}/api/callback", lambda n: event(secret, f"bl-{n}"), args.events, args.threads)
    time.sleep(1)  # the last wake-ups leave the web processes' publishers
    wakeups = broker_messages(env, "forwarding")
    start_count = len(receiver.requests)
    worker = celery_worker(pool=None, concurrency=2, env=env)
    try:
        receiver.wait_for(start_count + 1, timeout=120)
        began = time.perf_counter()
        receiver.wait_for(start_count + args.events, timeout=600)
        return time.perf_counter() - began, wakeups
    finally:
        stop_process_group(worker, timeout=30)


if __name__ == "__main__":
    main()
