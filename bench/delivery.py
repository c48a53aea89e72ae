"""Delivery throughput: POST /api/send → database/queue → Celery worker(s) → bridge agent.

    .venv/bin/python bench/delivery.py [-n 5000] [--workers 1 2] [--threads 8] [--port 8107]

What a user of the send API waits for: gunicorn as `make run` starts it
(bench/harness.py) takes N messages from several client threads (keep-alive
sessions) and the workers send them to the demo agent (the real
bridge-protocol server), which runs in a process of its own so that it does
not compete with the client threads for the GIL. Measured from the first
accept until the agent has the last message ("end to end"), beside a plain
loop posting the same bodies straight to the agent. The ratio end to end ÷
plain loop is the figure we track.

End to end cannot be faster than the web server accepts, so the bench also
prints the accept rate alone (no worker running, the bot paused): of the
parse + insert floor (`/bench/send/insert`, bench/send.py's baseline) and of
`/api/send`. Their ratio to the plain loop is the ceiling of the end-to-end
ratio on this machine. Then, for each worker count, it starts that many
`celery worker` processes (`--pool=solo`) and measures:

* backlog: the N messages accepted while the bot was paused, from resuming
  it (and one wake-up) until the agent has the last: the engine alone;
* end to end: N more messages accepted while the workers run.

Runs on DATABASE_URL / CELERY_BROKER_URL / CACHE_URL when set (and cleans up
after itself), else on its own SQLite database and filesystem broker in
var/bench-delivery/. The per-conversation minimum gap is turned off and the
bot's and the API's rate limits are lifted: the figures are the engine's own
cost.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    CpuMeter,
    database_backends,
    post_many,
    process_tree,
    server_environment,
    start_server,
)
from devtools.processes import celery_worker, stop_process_group  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--threads", type=int, default=8, help="client threads accepting")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8107")))
    parser.add_argument(
        "--drain", type=int, default=2000, help="task messages for the broker drain (0: skip)"
    )
    return parser.parse_args()


def configure_environment(port: int) -> dict:
    """Settings for this process, gunicorn and the workers (they inherit os.environ)."""
    env = server_environment(
        port,
        "bench-delivery",
        DJANGO_SETTINGS_MODULE="botadmin.settings",
        DELIVERY_CONVERSATION_MIN_GAP="0",
        # Acceptance is measured, not limited: lift the per-secret API limit.
        BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE="100000000",
        # A queue of its own: tasks left on a shared broker by anything else are not measured.
        CELERY_TASK_DEFAULT_QUEUE=f"bench-delivery-{uuid.uuid4().hex[:8]}",
    )
    os.environ.update(env)
    return env


def main() -> None:
    args = parse_args()
    env = configure_environment(args.port)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    from conversations.secrets import generate_agent_token

    n = args.messages
    print(
        f"botadmin delivery benchmark: {n} messages, {args.conversations} conversations, "
        f"{args.threads} client threads"
    )
    print(
        f"  database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
        f"broker {settings.CELERY_BROKER_URL.split(':', 1)[0]}, "
        f"cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}, "
        f"gunicorn workers={env.get('WEB_CONCURRENCY', 'default')} "
        f"threads={env.get('WEB_THREADS', '4')}"
    )
    agent = AgentProcess(generate_agent_token())
    base = f"http://127.0.0.1:{args.port}"
    server = None
    bots = []
    try:
        if args.drain:
            rate = broker_drain(args.drain)
            print(f"  broker drain, one worker as `make run` starts it: {rate:8.1f} tasks/s")
        baseline = plain_loop(agent, n)
        print(f"  plain loop straight to the agent: {baseline:8.1f} msgs/s")
        bot, floor_bot = make_bot(agent, args.conversations), make_bot(agent, 1)
        bots += [bot, floor_bot]
        pause(floor_bot)  # the floor's rows are never sent
        server = start_server(env, base)
        for floor in (True, False):  # warm up both paths of every gunicorn process
            accept(base, floor_bot, WARMUP, args, floor=floor)
        floor = accept(base, floor_bot, n, args, floor=True)
        cleanup(floor_bot, keep_bot=True)  # its queued rows would slow the claims down
        print(
            f"  accept only, parse + insert floor: {floor:8.1f} msgs/s "
            f"(ratio {floor / baseline:.3f}; /bench/send/insert, no worker running)"
        )
        for workers in args.workers:
            pause(bot)
            accepted = accept(base, bot, n, args)
            print(
                f"  accept only, POST /api/send:       {accepted:8.1f} msgs/s "
                f"(ratio {accepted / baseline:.3f}: the ceiling of end to end on this machine)"
            )
            backlog, rate, accept_rate, cpu = run_workers(
                agent, server, base, bot, n, workers, args
            )
            print(
                f"  {workers} worker(s), backlog:         {backlog:8.1f} msgs/s "
                f"(ratio {backlog / baseline:.3f}; {n} messages waiting, then one wake-up)"
            )
            print(
                f"  {workers} worker(s), end to end:      {rate:8.1f} msgs/s "
                f"(ratio {rate / baseline:.3f}; accepted at {accept_rate:.0f} msgs/s "
                f"while the workers ran)"
            )
            print(f"  {workers} worker(s), CPU ms per message end to end: {cpu.per_item(n)}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        agent.stop()
        for bot in bots:
            cleanup(bot)


WARMUP = 200  # requests to each path before measuring, as bench/send.py


def body(i: int) -> dict:
    return {"msgtype": "text", "text": {"content": f"benchmark message {i}"}}


# --- The agent, in a process of its own -----------------------------------------------


class AgentProcess:
    """The demo agent in a child process; `sent()`: how many distinct messages it has."""

    def __init__(self, token: str):
        context = multiprocessing.get_context("spawn")
        self.token = token
        self._count = context.Value("q", 0)
        ready = context.Queue()
        self._process = context.Process(
            target=run_agent, args=(token, self._count, ready), daemon=True
        )
        self._process.start()
        self.url = ready.get(timeout=60)
        self.pid = self._process.pid

    def sent(self) -> int:
        return self._count.value

    def wait_for(self, count: int, workers=(), log: Path | None = None) -> None:
        while self.sent() < count:
            time.sleep(0.01)
            if any(p.poll() is not None for p in workers):
                raise SystemExit("a worker died:\n" + (log.read_text()[-3000:] if log else ""))

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(timeout=10)


def run_agent(token: str, count, ready) -> None:
    from connectors.demo_agent import DemoAgent

    class CountingAgent(DemoAgent):
        def _answer_send(self, body: dict):
            answer = super()._answer_send(body)
            with count.get_lock():  # threads answering side by side: keep the highest
                count.value = max(count.value, len(self.sent))
            return answer

    parent = os.getppid()
    agent = CountingAgent(token=token, users=[], groups=[]).start()
    ready.put(agent.url)
    while os.getppid() == parent:  # a bench killed outright leaves no agent behind
        time.sleep(1)


def plain_loop(agent: AgentProcess, n: int) -> float:
    session = requests.Session()
    headers = {"Authorization": f"Bearer {agent.token}"}
    began = time.perf_counter()
    for i in range(n):
        message_id = uuid.uuid4().hex
        payload = {"id": message_id, "conversation_id": f"wrBench{i % 100}", **body(i)}
        response = session.post(
            agent.url + "/send",
            json=payload,
            headers={**headers, "Idempotency-Key": message_id},
            timeout=15,
        )
        response.raise_for_status()
    return n / (time.perf_counter() - began)


# --- Accepting --------------------------------------------------------------------------


def make_bot(agent: AgentProcess, conversations: int):
    from conversations.models import Bot, Conversation

    bot = Bot.objects.create(
        name=f"bench-{uuid.uuid4().hex[:8]}",
        agent_url=agent.url,
        agent_token=agent.token,
        rate_limit_per_minute=10_000_000,
    )
    bot.bench_conversations = Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wrBench{i}", name=f"bench {i}")
        for i in range(conversations)
    )
    return bot


def accept(base: str, bot, n: int, args, floor: bool = False) -> float:
    """POST n messages from the client threads; accepted per second (all must be)."""
    import json

    conversations = bot.bench_conversations
    if floor:
        url = f"{base}/bench/send/insert"

        def params(i):
            return {"bot": bot.pk, "conversation": conversations[i % len(conversations)].pk}

    else:
        url = f"{base}/api/send"

        def params(i):
            conversation = conversations[i % len(conversations)].conversation_id
            return {"secret": bot.secret, "conversation_id": conversation}

    accepted, rate, _p50, _p99 = post_many(
        url, lambda i: json.dumps(body(i)).encode(), n, args.threads, params=params
    )
    if accepted != n:
        raise SystemExit(f"{url} accepted only {accepted} of {n} messages")
    return rate


def pause(bot) -> None:
    from django.utils import timezone

    from conversations.models import Bot

    Bot.objects.filter(pk=bot.pk).update(paused_at=timezone.now(), paused_reason="bench")


def run_workers(agent: AgentProcess, server, base: str, bot, n: int, workers: int, args):
    """(backlog rate, end-to-end rate, accept rate meanwhile, CPU used end to end) with
    `workers` workers."""
    from conversations.models import Bot
    from messaging.models import Message
    from messaging.tasks import deliver_messages

    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as folder:
        logs = [Path(folder) / f"worker-{i}.log" for i in range(workers)]
        processes = [start_worker(log) for log in logs]
        try:
            wait_for_workers(logs, processes)
            # The accepts' wake-ups find the bot paused: let the workers take them first.
            wait_until_queue_empty()
            sent_before = agent.sent()
            began = time.perf_counter()
            Bot.objects.filter(pk=bot.pk).update(paused_at=None, paused_reason="")
            for _ in range(workers):
                deliver_messages.delay([])
            agent.wait_for(sent_before + n, processes, logs[0])
            backlog = n / (time.perf_counter() - began)

            cpu = CpuMeter(
                web=lambda: process_tree(server.pid),
                workers=lambda: [pid for p in processes for pid in process_tree(p.pid)],
                database=database_backends,
                agent=lambda: [agent.pid],
                clients=lambda: [os.getpid()],
            )
            sent_before = agent.sent()
            cpu.start()
            began = time.perf_counter()
            accept_rate = accept(base, bot, n, args)
            agent.wait_for(sent_before + n, processes, logs[0])
            rate = n / (time.perf_counter() - began)
            cpu.stop()
            unsent = Message.objects.filter(bot=bot).exclude(status="sent").count()
            if unsent and not wait_sent(bot):
                raise SystemExit(f"{unsent} messages not recorded as sent")
            return backlog, rate, accept_rate, cpu
        finally:
            for process in processes:
                stop_process_group(process, timeout=30)


def start_worker(log: Path) -> subprocess.Popen:
    return celery_worker(pool="solo", loglevel="INFO", stdout=subprocess.DEVNULL, stderr=log)


def wait_for_workers(logs: list[Path], processes, timeout: float = 120) -> None:
    """Until every worker logged "ready" (a ping does not work on every broker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(log.exists() and b" ready." in log.read_bytes() for log in logs):
            return
        if any(p.poll() is not None for p in processes):
            raise SystemExit("a worker died:\n" + logs[0].read_text()[-3000:])
        time.sleep(0.1)
    raise SystemExit("the workers did not start")


def queue_length() -> int:
    from botadmin.celery import app

    with app.connection_for_read() as connection:
        # Not passive: Redis drops an emptied queue's key, and a passive declare then fails.
        return connection.default_channel.queue_declare(app.conf.task_default_queue).message_count


def wait_until_queue_empty(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while queue_length() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the last ones taken are still running


def wait_sent(bot, timeout: float = 30) -> bool:
    from messaging.models import Message

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Message.objects.filter(bot=bot).exclude(status="sent").exists():
            return True
        time.sleep(0.2)
    return False


# --- The embedded broker ----------------------------------------------------------------


def broker_drain(n: int) -> float:
    """Task messages a second one worker takes off the broker and runs.

    n tasks are queued before the worker starts (as the Procfile starts it:
    the configured pool, two at a time); measured from the first one taken
    until the queue is empty. The task is Celery's built-in `celery.accumulate`,
    which returns its argument: the figure is the broker and the worker's loop
    alone, not our tasks' database work (the other lines measure that).
    """
    from botadmin.celery import app

    accumulate = app.tasks["celery.accumulate"]  # built in: no import path to call it by
    for i in range(n):
        accumulate.apply_async([i], queue=app.conf.task_default_queue)

    with tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log") as log:
        worker = celery_worker(
            pool=None, concurrency=2, stdout=subprocess.DEVNULL, stderr=Path(log.name)
        )
        try:
            while (left := queue_length()) == n:
                if worker.poll() is not None:
                    raise SystemExit("the worker died:\n" + Path(log.name).read_text()[-3000:])
                time.sleep(0.01)
            began = time.perf_counter()
            while queue_length():
                time.sleep(0.01)
            return left / (time.perf_counter() - began)
        finally:
            stop_process_group(worker, timeout=30)


def cleanup(bot, keep_bot: bool = False) -> None:
    from messaging.models import DeliveryAttempt, Message

    DeliveryAttempt.objects.filter(message__bot=bot).delete()
    Message.objects.filter(bot=bot).delete()
    if not keep_bot:
        bot.delete()


if __name__ == "__main__":
    main()
