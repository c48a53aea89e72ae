"""Search by sender at 205,000 messages and 20,000 synced contacts with Chinese names.

    .venv/bin/python bench/search_by_sender.py [--database-url URL] [--rebuild] [--runs 5]
                                               [--json-out FILE]

On SQLite (var/bench-search-by-sender/db.sqlite3, no ANALYZE, as a production SQLite
database has none) unless `--database-url postgres://…` names a PostgreSQL database
(migrated, vacuumed and analyzed after the fill; `--rebuild` empties the messages and
conversations first). CACHE_URL as set, else the database cache. The data (docs/performance.md,
notes 29 and 31): a retired bot whose 5,000 messages, all from one sender (欧阳鑫), are the
oldest; a busy bot's 30 old messages (20 from 钱多多, 10 without a name from a sender
whose synced contact is 司马懿); then 200,000 messages of the busy bot in 7 group chats,
a third sent by the API, the rest from 100 senders with generated names (1 message in
150 each); 20,000 synced contacts of the busy bot with generated names, 40 bots without
messages.

For each sender searched, as the console's search runs it for an operator of every bot
(`page_by_id` on `search_results`), the first and second page: the median time of
`--runs`, on PostgreSQL the buffers of all its queries (`EXPLAIN (ANALYZE, BUFFERS)`),
and a digest of the pages' message ids, to compare the answers of two versions.
"""

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from history import ROOT, setup_django  # noqa: E402

FOLDER = ROOT / "var/bench-search-by-sender"
MESSAGES = 200_000
CONTACTS = 20_000
SENDERS = 100
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉力永健世广志义兴良海山仁波宁"
)
# Sender searched: (label, what is typed)
CASES = [
    ("1 char, frequent senders (张)", "张"),
    ("1 char, old sender only (鑫)", "鑫"),
    ("1 char, contact only, nameless messages (懿)", "懿"),
    ("1 char, no match (龘)", "龘"),
    ("2 chars, one frequent sender", None),  # filled in: a frequent sender's given name
    ("2 chars, old sender (欧阳)", "欧阳"),
    ("2 chars, early sender (多多)", "多多"),
    ("2 chars, no match (龘龘)", "龘龘"),
    ("3 chars, old sender (欧阳鑫)", "欧阳鑫"),
    ("3 chars, no match (龘龘龘)", "龘龘龘"),
    ("ID, old sender (wmRetired)", "wmRetired"),
]


def name(n: int) -> str:
    """A generated name of 2 or 3 characters, the same for the same n."""
    surname = SURNAMES[n % len(SURNAMES)]
    first = GIVEN[(n * 7 + n // len(SURNAMES)) % len(GIVEN)]
    if n % 3 == 0:
        return surname + first
    return surname + first + GIVEN[(n * 13 + 5) % len(GIVEN)]


def fill() -> None:
    from conversations.models import Bot, Conversation
    from messaging.models import Message

    def message(bot, conversation, i, sender_id, sender_name, direction="in"):
        return Message(
            msgid=f"{bot.pk}-{i}",
            bot=bot,
            conversation=conversation,
            direction=direction,
            msgtype="text",
            body={},
            search_text=f"消息 {i}",
            sender_id=sender_id,
            sender_name=sender_name,
            status="received" if direction == "in" else "sent",
            source="agent" if direction == "in" else "api",
        )

    retired = Bot.objects.create(name="retired", connector="bridge", agent_url="http://127.0.0.1:9")
    busy = Bot.objects.create(name="busy", connector="bridge", agent_url="http://127.0.0.1:9")
    for n in range(40):
        Bot.objects.create(name=f"idle-{n:02}", connector="bridge", agent_url="http://127.0.0.1:9")
    old_chat = Conversation.objects.create(bot=retired, conversation_id="wrOld", name="旧群")
    Message.objects.bulk_create(
        (message(retired, old_chat, i, "wmRetired", "欧阳鑫") for i in range(5_000)),
        batch_size=5_000,
    )
    chats = [
        Conversation.objects.create(bot=busy, conversation_id=f"wrChat{n}", name=f"群{n}")
        for n in range(7)
    ]
    Message.objects.bulk_create(
        [message(busy, chats[0], f"early{i}", "wmEarly", "钱多多") for i in range(20)]
        + [message(busy, chats[0], f"nameless{i}", "wmNameless", "") for i in range(10)]
    )
    Conversation.objects.create(bot=busy, conversation_id="wmNameless", kind="user", name="司马懿")
    Conversation.objects.bulk_create(
        (
            Conversation(bot=busy, conversation_id=f"wmContact{n}", kind="user", name=name(n))
            for n in range(1_000, 1_000 + CONTACTS)
        ),
        batch_size=5_000,
    )
    batch = []
    for i in range(MESSAGES):
        chat = chats[i % 7]
        if i % 3 == 0:
            batch.append(message(busy, chat, i, "", "", direction="out"))
        else:
            n = (i * 37) % SENDERS
            batch.append(message(busy, chat, i, f"wmUser{n}", name(n)))
        if len(batch) == 5_000:
            Message.objects.bulk_create(batch)
            batch = []


def explain_buffers(sql: str, params) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        [[plan]] = cursor.fetchall()[0]
    top = plan["Plan"]
    return top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)


def run_case(sender: str, runs: int) -> dict:
    from django.db import connection

    from console.queries import page_by_id, search_results
    from conversations.models import Bot

    bots = Bot.objects.all()

    def pages():
        first = page_by_id(search_results(bots, {"sender": sender}), None, bots, by_sender=True)
        second = None
        if first.next_before:
            second = page_by_id(
                search_results(bots, {"sender": sender}), first.next_before, bots, by_sender=True
            )
        return first, second

    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        first, second = pages()
    ids = [m.pk for m in first.rows] + ([m.pk for m in second.rows] if second else [])
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        pages()
        times.append((time.perf_counter() - start) * 1000)
    result = {
        "rows": len(ids),
        "digest": hashlib.sha1(json.dumps(ids).encode()).hexdigest()[:10],
        "ms": round(statistics.median(times), 1),
    }
    if connection.vendor == "postgresql":
        result["buffers"] = sum(explain_buffers(sql, params) for sql, params in seen)
        result["queries"] = len(seen)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="postgres://… (else SQLite)")
    parser.add_argument("--rebuild", action="store_true", help="drop and refill the data")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case")
    parser.add_argument("--json-out", help="write the results here too")
    args = parser.parse_args()
    url = args.database_url
    if not url:
        FOLDER.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{FOLDER / 'db.sqlite3'}"
    setup_django(url, "search", redis=False, bench="bench-search-by-sender")
    from django.core.management import call_command
    from django.db import connection

    from conversations.models import Bot
    from messaging.models import Message

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    if args.rebuild:
        Message.objects.all().delete()
        Bot.objects.all().delete()

    if not Message.objects.exists():
        fill()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
    frequent_two = name(7)[1:3] if len(name(7)) == 3 else name(7)
    results = {}
    for label, sender in CASES:
        sender = sender or frequent_two
        results[f"{label} {sender}"] = result = run_case(sender, args.runs)
        print(f"{label:52} {sender:10} {json.dumps(result, ensure_ascii=False)}", flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
