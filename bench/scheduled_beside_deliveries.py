"""How late a scheduled message is released while the workers drain a delivery backlog.

    .venv/bin/python bench/scheduled_beside_deliveries.py [--messages 2000]
        [--conversations 40] [--agent-seconds 0.5] [--wakeups 46] [--probes 6]
        [--spacing 10] [--procfile Procfile]

The Celery workers and beat run as `make run` starts them (the Procfile's lines, or
those of --procfile to compare another layout). Given a busy bot's backlog of
--messages sends to a slow bridge agent (each send answered after --agent-seconds) and
--wakeups delivery wake-ups queued for it (as a fan-out and the sends of many web
processes queue them), each of which then drains due deliveries for up to 30 s: once
the workers are under way, --probes scheduled messages of another bot, one every
--spacing seconds, each due 2 s after it is stored. Each is timed from its `send_at` until the
scheduler's release task (the `scheduler` queue, every BOTADMIN_SCHEDULER_INTERVAL
seconds) has turned it `queued`: the announcements' tick shares that queue and interval.

Prints p50 and max of the lateness. Without DATABASE_URL: a throw-away SQLite database
and filesystem broker in var/bench-scheduled-beside-deliveries/ (`make run`'s defaults).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    PROCFILE,
    prepare_django,
    start_workers_and_beat,
    worker_layout,
)
from devtools.processes import stop_process_group  # noqa: E402

RUN = uuid.uuid4().hex[:8]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="the busy bot's backlog")
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--agent-seconds", type=float, default=0.5, help="each send's answer")
    parser.add_argument("--wakeups", type=int, default=46, help="delivery tasks queued")
    parser.add_argument("--probes", type=int, default=6, help="scheduled messages timed")
    parser.add_argument("--spacing", type=float, default=10, help="seconds between probes")
    parser.add_argument("--procfile", type=Path, default=PROCFILE)
    parser.add_argument("--port", type=int, default=8109)
    parser.add_argument("--timeout", type=float, default=600, help="a probe's longest wait (s)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    _env, folder = prepare_django(args.port, "bench-scheduled-beside-deliveries")
    from django.utils import timezone

    from connectors.demo_agent import DemoAgent
    from conversations.models import Bot, Conversation
    from conversations.secrets import generate_agent_token
    from messaging.models import Message
    from messaging.sending import accept_outbound, accept_outbound_bulk
    from messaging.tasks import deliver_messages

    print(worker_layout(args.procfile))
    slow = DemoAgent(token=generate_agent_token())
    slow.behaviour.delay = args.agent_seconds
    quick = DemoAgent(token=generate_agent_token())
    with slow, quick:
        busy = Bot.objects.create(
            name=f"busy-{RUN}",
            agent_url=slow.url,
            agent_token=slow.token,
            rate_limit_per_minute=100_000,
        )
        conversations = Conversation.objects.bulk_create(
            Conversation(bot=busy, conversation_id=f"wrBusy{i}", name=f"busy {i}")
            for i in range(args.conversations)
        )
        quiet = Bot.objects.create(
            name=f"quiet-{RUN}", agent_url=quick.url, agent_token=quick.token
        )
        Conversation.objects.create(bot=quiet, conversation_id="wrQuiet", name="quiet")
        rounds = -(-args.messages // args.conversations)
        for n in range(rounds):
            body = {"msgtype": "text", "text": {"content": f"backlog {n}"}}
            accept_outbound_bulk(bot=busy, conversations=conversations, body=body, source="api")
        for _ in range(args.wakeups):
            deliver_messages.apply_async([[]])
        print(
            f"backlog: {rounds * args.conversations} sends to an agent answering after "
            f"{args.agent_seconds:g} s, {args.wakeups} delivery wake-ups queued"
        )
        processes = start_workers_and_beat(_env, folder, args.procfile)
        try:
            deadline = time.monotonic() + 120
            while not slow.send_requests and time.monotonic() < deadline:
                time.sleep(0.1)
            if not slow.send_requests:
                sys.exit("the workers did not start")
            time.sleep(5)  # every worker slot under way with a drain
            watch = ReleaseWatch(Message)
            watch.start()
            for n in range(args.probes):
                send_at = timezone.now() + timedelta(seconds=2)
                probe = accept_outbound(
                    bot=quiet,
                    conversation_id="wrQuiet",
                    body={"msgtype": "text", "text": {"content": f"probe {n}"}},
                    source="api",
                    send_at=send_at,
                )
                watch.add(probe.pk, send_at)
                time.sleep(args.spacing)
            left = Message.objects.filter(bot=busy, status=Message.Status.QUEUED).count()
            waits = watch.wait(args.timeout)
            for n, wait in enumerate(waits):
                print(f"  probe {n}: {describe(wait, args.timeout)}")
            done = sorted(w for w in waits if w is not None)
            summary = (
                f"p50 {statistics.median(done):.1f} s, max {done[-1]:.1f} s" if done else "none"
            )
            late = len(waits) - len(done)
            print(
                f"{args.probes} scheduled messages, from send_at until released: {summary}"
                + (f", {late} not within {args.timeout:.0f} s" if late else "")
                + f"; {left} backlog sends still queued after the last was stored"
            )
        finally:
            for process in processes:
                stop_process_group(process, timeout=0)


class ReleaseWatch(threading.Thread):
    """Polls the probes every 0.1 s on a thread of its own: seconds from each one's
    `send_at` until it is no longer `scheduled`."""

    def __init__(self, message_model):
        super().__init__(daemon=True)
        self.model = message_model
        self.probes: dict[int, datetime] = {}  # pk → send_at
        self.waits: dict[int, float] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def add(self, pk: int, send_at: datetime) -> None:
        with self.lock:
            self.probes[pk] = send_at

    def run(self) -> None:
        from django.db import connection
        from django.utils import timezone

        try:
            while not self.stopped.is_set():
                with self.lock:
                    waiting = {pk: at for pk, at in self.probes.items() if pk not in self.waits}
                if waiting:
                    held = set(
                        self.model.objects.filter(
                            pk__in=waiting, status=self.model.Status.SCHEDULED
                        ).values_list("pk", flat=True)
                    )
                    now = timezone.now()
                    with self.lock:
                        for pk, send_at in waiting.items():
                            if pk not in held:
                                self.waits[pk] = max((now - send_at).total_seconds(), 0.0)
                time.sleep(0.1)
        finally:
            connection.close()

    def wait(self, timeout: float) -> list[float | None]:
        """Per probe, in order: its lateness (None: not released within `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.waits) == len(self.probes):
                    break
            time.sleep(0.1)
        self.stopped.set()
        self.join()
        return [self.waits.get(pk) for pk in self.probes]


def describe(wait: float | None, timeout: float) -> str:
    return f"released {wait:.1f} s late" if wait is not None else f"not within {timeout:.0f} s"


if __name__ == "__main__":
    main()
