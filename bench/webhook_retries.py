"""Retries of a webhook endpoint that is down, then back: broker messages, and the drain.

    .venv/bin/python bench/webhook_retries.py [--deliveries 2000]

The forwarder runs as `make run` starts it (the Procfile's line, logging at INFO); this
process publishes the sweep as beat does, every 15 s. One bot's N inbound messages each
have a delivery to its one endpoint, a receiver in this process.

1. Down: the receiver answers 500. The deliveries are due for their first attempt; timed
   from the first sweep until each has failed twice (its first attempt and its retry
   about 5 s later: the next is 5 minutes away).
2. Back: the receiver answers 200 and every delivery's retry is made due (as when those
   5 minutes have passed). Timed from the next sweep until the receiver has all N and
   every delivery is delivered.

For each phase: the seconds, and the forwarding task messages published: those the
forwarder received (its log's "Task … received" lines, by task; beat's sweeps are not
logged) and those still waiting in the broker when the phase ended, purged then: each
phase has a forwarder of its own, started on an empty queue.
Without DATABASE_URL: a throw-away SQLite database and filesystem broker in
var/bench-webhook-retries/ (`make run`'s defaults).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    engines,
    prepare_django,
    task_messages_waiting,
    tasks_received,
)
from devtools.inbound_messages import store_inbound_texts  # noqa: E402
from devtools.processes import celery_worker, procfile_workers, stop_process_group  # noqa: E402
from devtools.receiver import Receiver  # noqa: E402

RUN = uuid.uuid4().hex[:8]
SWEEP_EVERY = 15.0  # the beat entry's schedule (botadmin/settings.py)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=600, help="a phase's longest wait (s)")
    return parser.parse_args()


def setup(receiver_url: str, deliveries: int):
    """The bot, its endpoint and N inbound messages, each with a delivery due now."""
    from django.utils import timezone

    from conversations.models import Bot
    from forwarding.endpoints import create_deliveries
    from forwarding.models import WebhookDelivery

    bot = Bot.objects.create(
        name=f"retries-{RUN}", agent_url="http://127.0.0.1:9", webhook_url=receiver_url
    )
    stored = store_inbound_texts(bot, deliveries, prefix=RUN)
    create_deliveries([message.pk for message in stored])
    due = timezone.now() - timedelta(minutes=1)  # past the sweeper's grace
    WebhookDelivery.objects.filter(message__bot=bot).update(next_attempt_at=due)
    return bot.webhook_endpoints.get()


class Forwarder:
    """The Procfile's forwarder, started ready and stopped (`with`), and the task messages
    its log says it received."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log = env, log

    def __enter__(self):
        self.process = celery_worker(
            pool=None,
            options=procfile_workers()["forwarder"],
            loglevel="INFO",
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 120
        while " ready." not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.process.poll() is not None:
                stop_process_group(self.process, timeout=0)
                sys.exit(f"the forwarder did not start: see {self.log}")
            time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        stop_process_group(self.process, timeout=30)


class Beat:
    """The sweep, published now and every SWEEP_EVERY s until stopped, as beat does."""

    def __init__(self):
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from forwarding.tasks import sweep_webhook_deliveries

        while True:
            sweep_webhook_deliveries.apply_async()
            if self.stopped.wait(SWEEP_EVERY):
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"not in {timeout:.0f} s: {what}")
        time.sleep(0.2)


def settled(endpoint, status: str, **fields) -> bool:
    """Every delivery of `endpoint` is `status` (with `fields`), none in a worker's hands."""
    from forwarding.models import WebhookDelivery

    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    return not deliveries.exclude(status=status, **fields).exists()


def report(phase: str, seconds: float, forwarder: Forwarder, deliveries: int) -> int:
    """The phase's figures, once its forwarder stopped (its prefetched messages back in
    the queue, acks_late)."""
    received = tasks_received(forwarder.log)
    waiting = task_messages_waiting("forwarding", purge=True)
    total = sum(received.values()) + waiting
    by_task = ", ".join(f"{name} {n}" for name, n in received.most_common())
    print(
        f"{phase}: {seconds:.1f} s; {total} forwarding task messages published "
        f"({total / deliveries:.3f} a delivery): received {by_task or 'none'}; "
        f"{waiting} still waiting, purged"
    )
    return total


def main() -> None:
    args = parse_args()
    env, folder = prepare_django(0, "bench-webhook-retries")
    from django.utils import timezone

    from forwarding.models import WebhookDelivery

    n = args.deliveries
    print(
        f"{engines()}; forwarder: {' '.join(procfile_workers()['forwarder'])}; "
        f"{n} deliveries; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    with Receiver() as receiver:
        receiver.respond(500, b"down")
        endpoint = setup(receiver.url("/hook"), n)

        with Forwarder(env, folder / "forwarder-down.log") as forwarder, Beat():
            began = time.monotonic()
            wait_until(lambda: len(receiver.requests) >= 2 * n, args.timeout, "2 attempts each")
            wait_until(lambda: settled(endpoint, "pending", retry_step=2), 60, "all waiting")
            down = time.monotonic() - began
            time.sleep(2)  # a late wake-up still counts
        down_messages = report("down", down, forwarder, n)

        # The endpoint is back, its retries due: a fresh forwarder, an empty queue.
        receiver.respond(200, b"ok")
        WebhookDelivery.objects.filter(endpoint=endpoint).update(
            next_attempt_at=timezone.now() - timedelta(seconds=20)
        )
        asked = len(receiver.requests)
        with Forwarder(env, folder / "forwarder-back.log") as forwarder, Beat():
            began = time.monotonic()
            wait_until(lambda: len(receiver.requests) >= asked + n, args.timeout, "all back")
            arrived = time.monotonic() - began
            wait_until(lambda: settled(endpoint, "delivered"), 60, "all delivered")
            drained = time.monotonic() - began
            time.sleep(2)
        back_messages = report("back", drained, forwarder, n)
        print(
            f"back: the receiver had all {n} after {arrived:.1f} s ({n / arrived:.0f}/s), "
            f"every delivery recorded delivered after {drained:.1f} s; "
            f"{len(receiver.requests) - asked - n} posted twice"
        )
        print(f"task messages, both phases: {down_messages + back_messages}")


if __name__ == "__main__":
    main()
