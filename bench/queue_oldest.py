"""How finding the oldest due message grows with a backlog behind held messages.

    .venv/bin/python bench/queue_oldest.py [--sizes 10000 100000] [--chats 2000] [--runs 15]

The dashboard's card, `botadmin_queue_oldest_age_seconds` and /readyz's `queue` read
the oldest due message through `messaging.queue_health.overdue_since`: a queued message
whose time has come and that nothing older of its conversation is in the way of. Two
shapes at every size N:

* blocked: N messages in `--chats` conversations, each conversation's oldest waiting
  for its retry (its agent is down) and the rest due behind it, and one more
  conversation, made last, whose one message is due: the one to find;
* free: N conversations with one due message each (an announcement): the oldest is
  the first one looked at.

Printed per shape and size: p50 and p95 in ms of `overdue_since()` (every bot, as a
scrape asks) and whether it found the message it should. Runs in-process on
DATABASE_URL when set (PostgreSQL: a fresh bot, removed afterwards), else on its own
SQLite database in var/bench-queue-oldest/.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.claim import analyze, configure, make_bot, queued, remove  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--chats", type=int, default=2000, help="blocked conversations")
    parser.add_argument("--runs", type=int, default=15, help="timed reads per shape and size")
    return parser.parse_args()


def conversations(bot, n: int, prefix: str):
    from conversations.models import Conversation

    return Conversation.objects.bulk_create(
        (Conversation(bot=bot, conversation_id=f"{prefix}{i}", name=f"c{i}") for i in range(n)),
        batch_size=5000,
    )


def fill_blocked(bot, size: int, chats: int):
    """Returns the message to find."""
    from datetime import timedelta

    from django.utils import timezone

    from messaging.models import Message

    blocked = conversations(bot, chats, "wrBlocked")
    retry_at = timezone.now() + timedelta(hours=1)
    Message.objects.bulk_create(
        (queued(bot, c, next_attempt_at=retry_at, attempt_count=1) for c in blocked),
        batch_size=5000,
    )
    behind = size - chats
    Message.objects.bulk_create(
        (queued(bot, blocked[i % chats]) for i in range(behind)), batch_size=5000
    )
    [free] = conversations(bot, 1, "wrFree")
    message = queued(bot, free)
    message.save()
    return message


def fill_free(bot, size: int, chats: int):
    from messaging.models import Message

    made = Message.objects.bulk_create(
        (queued(bot, c) for c in conversations(bot, size, "wrFree")), batch_size=5000
    )
    return made[0]


def time_reads(runs: int) -> tuple[float, float, dict]:
    from messaging.queue_health import overdue_since

    times, found = [], {}
    for _ in range(runs + 1):  # the first warms the caches and is not counted
        began = time.perf_counter()
        found = overdue_since()
        times.append((time.perf_counter() - began) * 1000)
    times = sorted(times[1:])
    return statistics.median(times), times[max(0, round(len(times) * 0.95) - 1)], found


def main() -> None:
    args = parse_args()
    configure("bench-queue-oldest")
    from django.db import connection

    from messaging.models import Message

    print(f"database: {connection.vendor}; {args.runs} reads per shape and size")
    print(f"{'shape':8} {'N':>9} {'p50 ms':>9} {'p95 ms':>9}  found")
    for size in args.sizes:
        for shape, fill in (("blocked", fill_blocked), ("free", fill_free)):
            bot = make_bot()
            bot_pk = bot.pk
            try:
                expected = fill(bot, size, args.chats)
                since = Message.objects.filter(pk=expected.pk).values_list(
                    "next_attempt_at", "scheduled_at", "created_at"
                )[0]
                analyze()
                p50, p95, found = time_reads(args.runs)
            finally:
                remove(bot)
            right = found.get(bot_pk) == next(t for t in since if t is not None)
            print(f"{shape:8} {size:>9,} {p50:>9.2f} {p95:>9.2f}  {'yes' if right else 'NO'}")


if __name__ == "__main__":
    main()
