"""How a delivery claim's cost grows with what is waiting.

    .venv/bin/python bench/claim.py [--sizes 1000 10000 100000] [--runs 15]

Every wake-up of a delivery worker starts with a claim (messaging/delivery_claim.py,
`claim_due_messages`): the query for due messages, locked, then paced. Its
cost is paid by every bot on the instance, so it must not grow with one bot's
backlog. Two shapes of waiting work, each at every size N:

* backlog: one conversation whose oldest message waits for its retry (its
  agent is down) with N messages queued behind it, beside 100 conversations
  whose next message is due: the claim takes 50 of those 100;
* fan-out: N conversations with one due message each (an announcement): the
  claim takes 50 of them.

Printed per shape and size: the claim's p50 and p95 in ms (each claim is
rolled back, so every run sees the same rows) and the p50's ratio to the
smallest size's. Runs in-process on DATABASE_URL when set (PostgreSQL: a
fresh bot, removed afterwards), else on its own SQLite database in
var/bench-claim/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OTHER_CONVERSATIONS = 100


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=15, help="timed claims per shape and size")
    return parser.parse_args()


def configure(folder: str = "bench-claim") -> None:
    """Django on DATABASE_URL, else on a fresh SQLite database in var/<folder>/."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The engine's own cost: no conversation gap (a claim is rolled back, the cache's
    # record of a conversation's last send is not) and the bot's rate limit lifted.
    os.environ["DELIVERY_CONVERSATION_MIN_GAP"] = "0"
    if "DATABASE_URL" not in os.environ:
        var = ROOT / "var" / folder
        shutil.rmtree(var, ignore_errors=True)
        var.mkdir(parents=True)
        os.environ["BOTADMIN_VAR_DIR"] = str(var)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def main() -> None:
    args = parse_args()
    configure()
    from django.db import connection

    print(f"database: {connection.vendor}; {args.runs} claims per shape and size")
    results: dict[str, list[tuple[int, float, float]]] = {"backlog": [], "fan-out": []}
    for size in args.sizes:
        for shape, fill in (("backlog", fill_backlog), ("fan-out", fill_fan_out)):
            bot = make_bot()
            try:
                fill(bot, size)
                analyze()
                p50, p95, claimed = time_claims(args.runs)
            finally:
                remove(bot)
            results[shape].append((size, p50, p95))
            print(
                f"  {shape:8} N={size:>7,}: p50 {p50:8.2f} ms  p95 {p95:8.2f} ms  (claimed {claimed})"
            )
    print()
    print(f"{'shape':8} {'N':>9} {'p50 ms':>9} {'p95 ms':>9} {'p50 / smallest N':>17}")
    for shape, rows in results.items():
        base = rows[0][1]
        for size, p50, p95 in rows:
            print(f"{shape:8} {size:>9,} {p50:>9.2f} {p95:>9.2f} {p50 / base:>17.2f}")


def make_bot():
    from conversations.models import Bot

    return Bot.objects.create(
        name=f"bench-claim-{uuid.uuid4().hex[:8]}",
        agent_url="http://127.0.0.1:9/",
        agent_token="bench",
        rate_limit_per_minute=100_000_000,
    )


def conversations(bot, n: int):
    from conversations.models import Conversation

    return Conversation.objects.bulk_create(
        (Conversation(bot=bot, conversation_id=f"wrClaim{i}", name=f"c{i}") for i in range(n)),
        batch_size=5000,
    )


def queued(bot, conversation, **fields):
    from messaging.models import Message

    return Message(
        bot=bot,
        conversation=conversation,
        direction=Message.Direction.OUT,
        status=Message.Status.QUEUED,
        source=Message.Source.API,
        msgtype="text",
        body={"content": "bench"},
        **fields,
    )


def fill_backlog(bot, size: int) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from messaging.models import Message

    stuck, *others = conversations(bot, 1 + OTHER_CONVERSATIONS)
    Message.objects.bulk_create(
        [queued(bot, stuck, next_attempt_at=timezone.now() + timedelta(hours=1))]
    )
    Message.objects.bulk_create((queued(bot, stuck) for _ in range(size)), batch_size=5000)
    Message.objects.bulk_create(queued(bot, conversation) for conversation in others)


def fill_fan_out(bot, size: int) -> None:
    from messaging.models import Message

    Message.objects.bulk_create(
        (queued(bot, conversation) for conversation in conversations(bot, size)),
        batch_size=5000,
    )


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "VACUUM ANALYZE")


def time_claims(runs: int) -> tuple[float, float, int]:
    from django.db import transaction

    from messaging.delivery_claim import claim_due_messages

    times, claimed = [], 0
    for _ in range(runs + 1):  # the first warms the caches and is not counted
        began = time.perf_counter()
        with transaction.atomic():
            claimed = len(claim_due_messages())
            transaction.set_rollback(True)
        times.append((time.perf_counter() - began) * 1000)
    times = sorted(times[1:])
    return statistics.median(times), times[max(0, round(len(times) * 0.95) - 1)], claimed


def remove(bot) -> None:
    from conversations.models import Conversation
    from messaging.models import Message

    Message.objects.filter(bot=bot).delete()
    Conversation.objects.filter(bot=bot).delete()
    bot.delete()


if __name__ == "__main__":
    main()
