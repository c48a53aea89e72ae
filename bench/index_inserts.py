"""What the foreign keys' own indexes cost each insert (docs/database.md).

    DATABASE_URL=postgres://… .venv/bin/python bench/index_inserts.py [--rows 5000] [--rounds 3]

PostgreSQL only, on a migrated database of its own (its rows are removed afterwards).
Inserts `--rows` inbound messages and as many webhook deliveries, one statement each
(autocommit, as the callback and the forwarder do), once without the indexes that
messaging 0025 / forwarding 0010 dropped and once with them built again, alternating
for `--rounds`; prints the mean microseconds per insert of each and the indexes' sizes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from conversations.models import Bot, Conversation  # noqa: E402
from forwarding.models import WebhookDelivery, WebhookEndpoint  # noqa: E402
from messaging.models import Message  # noqa: E402

DROPPED = {
    "messaging_message_bot_id_68883181": "messaging_message (bot_id)",
    "messaging_message_conversation_id_3db4d3d1": "messaging_message (conversation_id)",
    "messaging_webhookdelivery_endpoint_id_7cd26fce": "messaging_webhookdelivery (endpoint_id)",
    "messaging_webhookdelivery_message_id_a7851c91": "messaging_webhookdelivery (message_id)",
}


def _sql(statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement)


def _insert(bot, conversation, endpoint, rows: int) -> float:
    started = time.perf_counter()
    for _ in range(rows):
        message = Message.objects.create(
            bot=bot,
            conversation=conversation,
            direction=Message.Direction.IN,
            msgtype="text",
            body={"msgtype": "text", "text": {"content": "bench"}},
            status=Message.Status.RECEIVED,
            source=Message.Source.AGENT,
        )
        WebhookDelivery.objects.create(message=message, endpoint=endpoint)
    return (time.perf_counter() - started) / (2 * rows) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only (DATABASE_URL)")
    bot = Bot.objects.create(name=f"bench-index-{os.getpid()}", connector="wecom_robot")
    conversation = Conversation.objects.create(bot=bot, conversation_id="bench", name="bench")
    endpoint = WebhookEndpoint.objects.create(bot=bot, url="https://bench.example/hook")
    times = {"without": [], "with": []}
    try:
        for _ in range(args.rounds):
            for name in DROPPED:
                _sql(f'DROP INDEX IF EXISTS "{name}"')
            times["without"].append(_insert(bot, conversation, endpoint, args.rows))
            for name, where in DROPPED.items():
                table, column = where.split(" ", 1)
                _sql(f'CREATE INDEX IF NOT EXISTS "{name}" ON {table} {column}')
            times["with"].append(_insert(bot, conversation, endpoint, args.rows))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)",
                [list(DROPPED)],
            )
            sizes = dict(cursor.fetchall())
    finally:
        for name in DROPPED:
            _sql(f'DROP INDEX IF EXISTS "{name}"')
        Message.objects.filter(bot=bot).delete()
        bot.delete()
    for label, values in times.items():
        print(f"{label} the 4 indexes: {statistics.mean(values):.1f} µs an insert {values}")
    total = Message.objects.count()
    print(f"sizes at {total + args.rows * args.rounds * 2} messages: {sizes}")


if __name__ == "__main__":
    main()
