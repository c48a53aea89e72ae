"""Delivery throughput: API → database/queue → Celery worker(s) → bridge agent, end to end.

    .venv/bin/python bench/delivery.py [-n 5000] [--workers 1 2] [--conversations 100]

Runs on the configured DATABASE_URL / CELERY_BROKER_URL / CACHE_URL; without a
DATABASE_URL it uses a throw-away SQLite database and filesystem broker in a
temporary folder. The demo agent (the real bridge-protocol server) runs in
this process. For each worker count it starts that many `celery worker`
processes, accepts N messages through /api/send when that endpoint exists
(else through messaging.sending.accept_outbound, the function it calls),
and measures from the first accept until the agent has the last message.
The baseline is a plain loop posting the same bodies straight to the agent.
The ratio end-to-end / baseline is the figure we track; it cannot exceed the
accept rate of this one-threaded accepting loop, so the bench also measures
the engine alone: N messages accepted while the bot is paused (the workers
claim nothing), then the bot resumed and the workers woken, from the wake-up
until the agent has the last one ("backlog").

The per-conversation minimum gap is turned off (DELIVERY_CONVERSATION_MIN_GAP=0)
and the bot's rate limit is lifted, so the figure is the engine's own cost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.processes import celery_worker, stop_process_group  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--messages", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument(
        "--drain", type=int, default=2000, help="task messages for the broker drain (0: skip)"
    )
    return parser.parse_args()


def configure_environment() -> str | None:
    """Settings for this process and the workers; returns a temp dir to remove, if any."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    os.environ["DELIVERY_CONVERSATION_MIN_GAP"] = "0"
    # Acceptance is not what this measures: lift the per-secret API limit.
    os.environ["BOTADMIN_SEND_RATE_LIMIT_PER_MINUTE"] = "100000000"
    os.environ["BOTADMIN_ALLOW_PRIVATE_URLS"] = "1"
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # A queue of its own: tasks left on a shared broker by anything else are not measured.
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"bench-delivery-{uuid.uuid4().hex[:8]}"
    if os.environ.get("DATABASE_URL"):
        return None
    scratch = tempfile.mkdtemp(prefix="botadmin-delivery-bench-")
    os.environ["BOTADMIN_VAR_DIR"] = scratch
    os.environ.setdefault("CELERY_BROKER_URL", "filesystem://")
    return scratch


def main() -> None:
    args = parse_args()
    scratch = configure_environment()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    from connectors.demo_agent import DemoAgent
    from conversations.secrets import generate_agent_token

    n = args.messages
    print(f"botadmin delivery benchmark: {n} messages, {args.conversations} conversations")
    print(
        f"  database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
        f"broker {settings.CELERY_BROKER_URL.split(':', 1)[0]}, "
        f"cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
    )
    try:
        with DemoAgent(token=generate_agent_token()) as agent:
            if args.drain:
                rate = broker_drain(args.drain)
                print(f"  broker drain, one worker as `make run` starts it: {rate:8.1f} tasks/s")
            baseline = plain_loop(agent, n)
            print(f"  plain loop straight to the agent: {baseline:8.1f} msgs/s")
            for workers in args.workers:
                rate, accept_rate, via, backlog = end_to_end(agent, n, workers, args.conversations)
                print(
                    f"  {workers} worker(s), end to end:      {rate:8.1f} msgs/s "
                    f"(ratio {rate / baseline:.3f}; accepted via {via} at {accept_rate:.0f} msgs/s)"
                )
                print(
                    f"  {workers} worker(s), backlog:         {backlog:8.1f} msgs/s "
                    f"(ratio {backlog / baseline:.3f}; {n} messages waiting, then one wake-up)"
                )
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def body(i: int) -> dict:
    return {"msgtype": "text", "text": {"content": f"benchmark message {i}"}}


def plain_loop(agent, n: int) -> float:
    import requests

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


def end_to_end(agent, n: int, workers: int, conversations: int) -> tuple[float, float, str, float]:
    from conversations.models import Bot, Conversation
    from messaging.models import Message

    bot = Bot.objects.create(
        name=f"bench-{uuid.uuid4().hex[:8]}",
        agent_url=agent.url,
        agent_token=agent.token,
        rate_limit_per_minute=10_000_000,
    )
    Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wrBench{i}", name=f"bench {i}")
        for i in range(conversations)
    )
    logs = [
        tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log") for _ in range(workers)
    ]
    processes = [start_worker(log.name) for log in logs]
    try:
        wait_for_workers(logs, processes)
        sent_before = len(agent.sent)
        accept, via = accepter(bot)
        began = time.perf_counter()
        for i in range(n):
            accept(f"wrBench{i % conversations}", body(i))
        accept_rate = n / (time.perf_counter() - began)
        while len(agent.sent) - sent_before < n:
            time.sleep(0.05)
            if any(p.poll() is not None for p in processes):
                raise SystemExit("a worker died:\n" + Path(logs[0].name).read_text()[-3000:])
        elapsed = time.perf_counter() - began
        assert Message.objects.filter(bot=bot).exclude(status="sent").count() == 0 or wait_sent(
            bot, n
        )
        return n / elapsed, accept_rate, via, backlog_rate(agent, bot, n, conversations, workers)
    finally:
        for process in processes:
            stop_process_group(process, timeout=30)
        for log in logs:
            log.close()
        cleanup(bot)


def backlog_rate(agent, bot, n: int, conversations: int, workers: int) -> float:
    """Messages/s of the workers draining N messages accepted while the bot was paused."""
    from django.utils import timezone

    from conversations.models import Bot
    from messaging.tasks import deliver_messages

    Bot.objects.filter(pk=bot.pk).update(paused_at=timezone.now(), paused_reason="bench")
    accept, _via = accepter(bot)
    for i in range(n):
        accept(f"wrBench{i % conversations}", body(i))
    time.sleep(3)  # the wake-ups of the accepts find nothing to claim
    sent_before = len(agent.sent)
    began = time.perf_counter()
    Bot.objects.filter(pk=bot.pk).update(paused_at=None, paused_reason="")
    for _ in range(workers):
        deliver_messages.delay([])
    while len(agent.sent) - sent_before < n:
        time.sleep(0.02)
    return n / (time.perf_counter() - began)


def broker_drain(n: int) -> float:
    """Task messages a second one worker takes off the broker and runs.

    n tasks are queued before the worker starts (as the Procfile starts it:
    the configured pool, two at a time); measured from the first one taken
    until the queue is empty. The task is Celery's built-in `celery.accumulate`,
    which returns its argument: the figure is the broker and the worker's loop
    alone, not our tasks' database work (the end-to-end lines measure that).
    """
    from botadmin.celery import app

    queue = app.conf.task_default_queue
    accumulate = app.tasks["celery.accumulate"]  # built in: no import path to call it by
    for i in range(n):
        accumulate.apply_async([i], queue=queue)

    def waiting() -> int:
        with app.connection_for_read() as connection:
            # Not passive: Redis drops an emptied queue's key, and a passive declare then fails.
            return connection.default_channel.queue_declare(queue).message_count

    with tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log") as log:
        worker = celery_worker(
            pool=None, concurrency=2, stdout=subprocess.DEVNULL, stderr=Path(log.name)
        )
        try:
            while (left := waiting()) == n:
                if worker.poll() is not None:
                    raise SystemExit("the worker died:\n" + Path(log.name).read_text()[-3000:])
                time.sleep(0.01)
            began = time.perf_counter()
            while waiting():
                time.sleep(0.01)
            return left / (time.perf_counter() - began)
        finally:
            stop_process_group(worker, timeout=30)


def accepter(bot):
    """POST /api/send through Django's full request stack when the endpoint exists."""
    from django.test import Client
    from django.urls import Resolver404, resolve

    from messaging.sending import accept_outbound

    try:
        resolve("/api/send")
        has_send_api = Client().post("/api/send", data="{}", content_type="application/json")
        has_send_api = (
            has_send_api.status_code != 404 or "no such endpoint" not in has_send_api.text
        )
    except Resolver404:
        has_send_api = False
    if has_send_api:
        client = Client()

        def post(conversation_id: str, payload: dict) -> None:
            response = client.post(
                f"/api/send?secret={bot.secret}&conversation_id={conversation_id}",
                data=payload,
                content_type="application/json",
            )
            if response.json().get("errcode") != 0:
                raise SystemExit(f"/api/send refused the message: {response.content[:200]!r}")

        return post, "POST /api/send"

    def direct(conversation_id: str, payload: dict) -> None:
        accept_outbound(bot=bot, conversation_id=conversation_id, body=payload, source="api")

    return direct, "accept_outbound"


def start_worker(log_path: str) -> subprocess.Popen:
    return celery_worker(
        pool="solo", loglevel="INFO", stdout=subprocess.DEVNULL, stderr=Path(log_path)
    )


def wait_for_workers(logs, processes, timeout: float = 120) -> None:
    """Until every worker logged "ready" (a ping does not work on every broker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(b" ready." in Path(log.name).read_bytes() for log in logs):
            return
        if any(p.poll() is not None for p in processes):
            raise SystemExit("a worker died:\n" + Path(logs[0].name).read_text()[-3000:])
        time.sleep(0.1)
    raise SystemExit("the workers did not start")


def wait_sent(bot, n: int, timeout: float = 30) -> bool:
    from messaging.models import Message

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Message.objects.filter(bot=bot, status="sent").count() == n:
            return True
        time.sleep(0.2)
    return False


def cleanup(bot) -> None:
    from messaging.models import DeliveryAttempt, Message

    DeliveryAttempt.objects.filter(message__bot=bot).delete()
    Message.objects.filter(bot=bot).delete()
    bot.delete()


if __name__ == "__main__":
    main()
