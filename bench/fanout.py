"""Announcement benchmark: fan-out, delivery throughput, and scheduling lateness.

    .venv/bin/python bench/fanout.py [--recipients 10000] [--due 200]

Runs on a throwaway SQLite database and filesystem broker in a temporary
folder (set BENCH_DATABASE_URL=postgres://… to use an empty PostgreSQL
database instead; its tables are created by migrate). Prints:

1. the time to fan one announcement out to N conversations (messages/s);
2. messages/s delivered to the local fake agent with the rate limit off, by a
   real Celery worker, beside bench/delivery.py's figure when that bench
   exists (needs the delivery engine, task `messaging.deliver_messages`);
3. the lateness (p50/p95/max seconds after the scheduled time) of M messages
   due in the same second, released by the real Celery beat + worker: until
   sent when the delivery engine is there, else until released to the queue.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VAR = tempfile.mkdtemp(prefix="bench-fanout-")
os.environ.update(
    DJANGO_SETTINGS_MODULE="botadmin.settings",
    BOTADMIN_VAR_DIR=VAR,
    BOTADMIN_ALLOW_PRIVATE_URLS="1",
    # The filesystem broker lists its folder on every read: 10,000 queued tasks
    # make it the bottleneck. BENCH_BROKER_URL=redis://… measures botadmin instead.
    CELERY_BROKER_URL=os.environ.get("BENCH_BROKER_URL", "filesystem://"),
    DELIVERY_CONVERSATION_MIN_GAP="0",
    CACHE_URL=os.environ.get("BENCH_CACHE_URL", "locmemcache://"),
    DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{VAR}/bench.sqlite3"),
    LOG_LEVEL="WARNING",
)

import django  # noqa: E402

django.setup()

from celery import current_app  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from announcements.editing import Draft, save_announcement  # noqa: E402
from announcements.fanout import fan_out  # noqa: E402
from announcements.scheduler import start_due_announcements  # noqa: E402
from connectors.demo_agent import DemoAgent  # noqa: E402
from conversations.models import Bot, Conversation  # noqa: E402
from conversations.secrets import generate_agent_token  # noqa: E402
from devtools.processes import celery_worker, stop_process_group  # noqa: E402
from messaging.models import Message  # noqa: E402
from messaging.sending import accept_outbound  # noqa: E402

UNLIMITED = 10_000_000  # messages per minute: the rate limit is off


def worker(concurrency: int = 2) -> subprocess.Popen:
    """A real Celery worker with embedded beat on the bench database and broker."""
    return celery_worker(
        pool=None,  # the configured one (threads on the filesystem broker), as it always ran
        concurrency=concurrency,
        beat_schedule=f"{VAR}/beat-schedule",
        loglevel="ERROR",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def delivery_figures(messages: int) -> tuple[str, str]:
    """bench/delivery.py's 2-worker figures (end to end, backlog) for `messages` messages."""
    script = ROOT / "bench" / "delivery.py"
    if not script.exists():
        return "", ""
    # Its "2 worker(s)" lines are comparable with the worker of concurrency 2 here.
    output = subprocess.run(
        [sys.executable, str(script), "--workers", "2", "-n", str(messages)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    ).stdout
    end_to_end = re.search(r"2 worker\(s\), end to end:\s*([\d.]+) msgs/s", output)
    backlog = re.search(r"2 worker\(s\), backlog:\s*([\d.]+) msgs/s", output)
    return (end_to_end.group(1) if end_to_end else ""), (backlog.group(1) if backlog else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=200)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    current_app.loader.import_default_modules()
    delivering = "messaging.deliver_messages" in current_app.tasks

    agent = DemoAgent(token=generate_agent_token(), users=[], groups=[]).start()
    bot = Bot.objects.create(
        name="bench", agent_url=agent.url, agent_token=agent.token, rate_limit_per_minute=UNLIMITED
    )
    Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wrBench{i:06d}", name=f"group {i}")
        for i in range(args.recipients)
    )
    print(f"database: {django.db.connection.vendor}; recipients: {args.recipients}")

    # 1. Fan-out (batches of BOTADMIN_ANNOUNCEMENT_BATCH_SIZE, each its own transaction).
    draft = Draft(
        bot=bot,
        title="bench",
        body={"msgtype": "text", "text": {"content": "bench"}},
        conversation_ids=list(Conversation.objects.filter(bot=bot).values_list("pk", flat=True)),
        kind="now",
        schedule={},
        timezone="Asia/Shanghai",
    )
    save_announcement(None, draft, as_draft=False)
    (run_id,) = start_due_announcements()
    started = time.perf_counter()
    fan_out(run_id)
    fan_out_seconds = time.perf_counter() - started
    created = Message.objects.filter(announcement_run_id=run_id).count()
    print(
        f"fan-out: {created} messages in {fan_out_seconds:.2f} s "
        f"({created / fan_out_seconds:,.0f} messages/s, enqueueing included)"
    )

    # 2. Delivered/s to the fake agent, rate limit off.
    process = worker()
    try:
        if delivering:
            started = time.perf_counter()
            sent = Message.objects.filter(announcement_run_id=run_id, status="sent")
            finished = wait_until(lambda: sent.count() == created, timeout=1800)
            seconds = time.perf_counter() - started
            rate = sent.count() / seconds
            print(
                f"delivery: {sent.count()} sent in {seconds:.1f} s = {rate:,.0f} messages/s"
                + ("" if finished else " (timed out)")
            )
        else:
            Message.objects.filter(announcement_run_id=run_id).update(status="cancelled")
            print(
                "delivery: skipped, the delivery engine (messaging.deliver_messages) is not installed"
            )

        # 3. Lateness of messages all due in the same second.
        wait_until(lambda: False, timeout=3)  # beat is up
        due = timezone.now().replace(microsecond=0) + timedelta(seconds=20)
        conversations = Conversation.objects.filter(bot=bot).order_by("pk")[: args.due]
        ids = [
            accept_outbound(
                bot=bot,
                conversation_id=conversation.conversation_id,
                body={"msgtype": "text", "text": {"content": f"due {i}"}},
                source=Message.Source.API,
                send_at=due,
            ).pk
            for i, conversation in enumerate(conversations)
        ]
        due_messages = Message.objects.filter(pk__in=ids, scheduled_at=due)
        assert due_messages.count() == args.due, "creating the messages took longer than 20 s"
        done_status = "sent" if delivering else "queued"
        wait_until(lambda: due_messages.filter(status=done_status).count() == args.due, timeout=300)
        until = "sent_at" if delivering else "updated_at"
        lateness = sorted(
            (getattr(m, until) - m.scheduled_at).total_seconds()
            for m in due_messages.filter(status=done_status)
        )
        if lateness:
            p95 = lateness[min(len(lateness) - 1, int(0.95 * len(lateness)))]
            print(
                f"lateness of {len(lateness)}/{args.due} messages due in the same second, until "
                f"{'sent' if delivering else 'released to the queue'}: "
                f"p50 {statistics.median(lateness):.2f} s, p95 {p95:.2f} s, max {lateness[-1]:.2f} s "
                f"(scheduler tick every {django.conf.settings.BOTADMIN_SCHEDULER_INTERVAL:g} s)"
            )
    finally:
        stop_process_group(process, timeout=20)
        agent.stop()
    if delivering:
        # Run after this bench's worker has stopped, so the two do not share it.
        end_to_end, backlog = delivery_figures(min(args.recipients, 5000))
        if end_to_end:
            print(
                f"bench/delivery.py (2 workers): {float(end_to_end):,.0f} messages/s end to end; "
                f"announcement delivery / delivery.py = {rate / float(end_to_end):.2f}"
            )
        if backlog:
            print(
                f"bench/delivery.py (2 workers): {float(backlog):,.0f} messages/s on a backlog; "
                f"announcement delivery / that = {rate / float(backlog):.2f}"
            )
        if not end_to_end and not backlog:
            print("bench/delivery.py: not present; no ratio")


if __name__ == "__main__":
    main()
