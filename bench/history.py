"""Benchmark of the operator console on 1,000,000 messages in PostgreSQL.

    .venv/bin/python bench/history.py [--database-url URL] [--runs 40] [--rebuild]

Fills a dedicated database (default `botadmin_bench`, created if missing)
once with 1,000,000 messages over 2,000 conversations of one bot (one busy
conversation holds 5% of them, spread over the last 90 days), then measures
server time — the full Django stack in-process: middleware, login session,
queries, template rendering — for the console pages, beside the bare indexed
SQL query of the history page. The ratio page / bare query is the figure we
track; targets: history pages within 3x, every page under 300 ms at p95.
The "paired" column is the median of each run's page time over the bare query
timed next to it, which the machine's drift disturbs less; the target is
checked on the ratio of the p50s.

Floors follow, to read that ratio by: a logged-in empty answer (session and
user lookups), a logged-in empty page (the console's base template), the
history page of a conversation without messages, and what the 50 messages
add to the page (latest page minus the empty conversation's).

Pages are timed as they are shown again, their bubbles drawn once already
(console/timeline.py caches them per process); the "first drawing" row times
the latest page with that cache emptied before each run, for reference.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MESSAGES = 1_000_000
CONVERSATIONS = 2_000
BUSY_SHARE = 20  # every 20th message goes to the busy conversation
RARE_WORD = "斑马鱼zebrafish"
PAGE = 50


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/botadmin_bench"
        ),
    )
    parser.add_argument("--runs", type=int, default=40, help="timed runs per page")
    parser.add_argument("--rebuild", action="store_true", help="drop and refill the data")
    return parser.parse_args()


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    # As production runs (the dashboard's day counts are cached there).
    os.environ.setdefault("CACHE_URL", "redis://127.0.0.1:6379/1")
    os.environ["BOTADMIN_BENCH_VIEWS"] = "1"  # the floor views of console/bench.py
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    import django

    django.setup()
    from django.conf import settings

    # No collectstatic needed: plain static storage, as in the tests.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


FILL_MESSAGES_SQL = """
WITH convs AS (
    SELECT array_agg(id ORDER BY id) AS ids FROM conversations_conversation WHERE bot_id = %(bot)s
), words AS (
    SELECT ARRAY['订单','退款','发货','你好','谢谢','价格','会议','周报','客户','问题','invoice',
                 'meeting','refund','shipping','hello','thanks','report','update','合同','报价'] AS w
)
INSERT INTO messaging_message (
    msgid, bot_id, conversation_id, direction, msgtype, body, search_text, sender_id,
    sender_name, upstream_msgid, status, source, idempotency_key, request_hash,
    attempt_count, last_error, created_at, updated_at, sent_at, forward_pending
)
SELECT
    md5(i::text),
    %(bot)s,
    CASE WHEN i %% %(busy_share)s = 0 THEN convs.ids[1]
         ELSE convs.ids[(2 + (i * 7919) %% (%(conversations)s - 1))::int] END,
    CASE WHEN i %% 3 = 0 THEN 'out' ELSE 'in' END,
    'text',
    jsonb_build_object('msgtype', 'text', 'text', jsonb_build_object('content', t.text)),
    t.text,
    CASE WHEN i %% 3 = 0 THEN '' ELSE 'wmUser' || (i %% 500) END,
    CASE WHEN i %% 3 = 0 THEN '' ELSE '用户' || (i %% 500) END,
    '',
    CASE WHEN i %% 3 <> 0 THEN 'received'
         WHEN i %% 97 = 0 THEN 'failed'
         WHEN i %% 101 = 0 THEN 'queued'
         ELSE 'sent' END,
    CASE WHEN i %% 3 <> 0 THEN 'agent' WHEN i %% 2 = 0 THEN 'api' ELSE 'console' END,
    '', '',
    CASE WHEN i %% 3 = 0 THEN 1 ELSE 0 END,
    CASE WHEN i %% 3 = 0 AND i %% 97 = 0 THEN 'errcode 40008: invalid message type' ELSE '' END,
    now() - interval '90 days' + (i * interval '90 days' / %(messages)s),
    now() - interval '90 days' + (i * interval '90 days' / %(messages)s),
    CASE WHEN i %% 3 = 0 THEN now() - interval '90 days' + (i * interval '90 days' / %(messages)s)
         END,
    false
FROM generate_series(1::bigint, %(messages)s) AS i, convs, words,
LATERAL (
    SELECT words.w[(1 + (i * 31) %% 20)::int] || ' ' || words.w[(1 + (i * 17) %% 20)::int] || ' ' ||
           words.w[(1 + (i * 13) %% 20)::int] || ' #' || i
           || CASE WHEN i IN (123457, 555555, 876543) THEN ' ' || %(rare)s ELSE '' END AS text
) AS t
"""

FILL_ATTEMPTS_SQL = """
INSERT INTO messaging_deliveryattempt (message_id, started_at, duration_ms, outcome, http_status,
                                       errcode, response_text)
SELECT id, created_at, 40 + id %% 60, CASE WHEN status = 'failed' THEN 'failed' ELSE 'sent' END,
       200, CASE WHEN status = 'failed' THEN 40008 ELSE 0 END, '{"errcode":0,"errmsg":"ok"}'
FROM messaging_message WHERE direction = 'out' AND conversation_id = %(busy)s
"""


def fill(rebuild: bool, messages: int = MESSAGES, conversations: int = CONVERSATIONS):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from conversations.models import Bot, Conversation
    from messaging.models import Message

    call_command("migrate", verbosity=0)
    bot = Bot.objects.filter(name="bench").first()
    if bot and not rebuild and Message.objects.filter(bot=bot).count() == messages:
        return bot
    print("Filling the benchmark database (about a minute)…", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE messaging_deliveryattempt, messaging_message, "
            "conversations_conversation, conversations_bot_operators, conversations_bot CASCADE"
        )
    with transaction.atomic():
        bot = Bot.objects.create(name="bench", agent_url="http://127.0.0.1:9", agent_token="t" * 40)
        Conversation.objects.bulk_create(
            Conversation(
                bot=bot,
                conversation_id=f"wrBench{i:05}",
                name=f"群 {i}" if i else "最忙的群",
                kind=Conversation.Kind.GROUP if i % 4 else Conversation.Kind.USER,
            )
            for i in range(conversations)
        )
        params = {
            "bot": bot.pk,
            "busy_share": BUSY_SHARE,
            "conversations": conversations,
            "messages": messages,
            "rare": RARE_WORD,
        }
        with connection.cursor() as cursor:
            cursor.execute(FILL_MESSAGES_SQL, params)
            busy = Conversation.objects.filter(bot=bot).order_by("id").first()
            cursor.execute(FILL_ATTEMPTS_SQL, {"busy": busy.pk})
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE messaging_message")
        cursor.execute("VACUUM ANALYZE messaging_deliveryattempt")
        cursor.execute("VACUUM ANALYZE conversations_conversation")
    user, _ = get_user_model().objects.get_or_create(username="bench-operator")
    bot.operators.add(user)
    return bot


def timed(fn, runs: int) -> list[float]:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def timed_together(fn, other, runs: int) -> tuple[list[float], list[float]]:
    """`fn` and `other` in alternation: on a machine whose speed drifts (shared
    cores), both see the same drift, so their ratio stays put."""
    fn_samples, other_samples = [], []
    for _ in range(3):
        fn(), other()
    for _ in range(runs):
        for call, samples in ((fn, fn_samples), (other, other_samples)):
            start = time.perf_counter()
            call()
            samples.append((time.perf_counter() - start) * 1000)
    return fn_samples, other_samples


def p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def measure(bot, runs: int):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from console.timeline import clear_cache
    from conversations.models import Conversation
    from messaging.models import Message

    busy = Conversation.objects.filter(bot=bot).order_by("id").first()
    ids = list(
        Message.objects.filter(conversation=busy)
        .order_by("-id")
        .values_list("id", flat=True)[: PAGE * 10]
    )
    tenth_before = ids[PAGE * 10 - 1]  # ten pages of 50 back from the latest
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-operator"))
    history = reverse("console:history", args=[bot.pk, busy.pk])

    def page(url, headers=None):
        def get():
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.status_code)

        return get

    def bare(before):
        sql = (
            "SELECT * FROM messaging_message WHERE conversation_id = %s"
            + (" AND id < %s" if before else "")
            + " ORDER BY id DESC LIMIT 51"
        )
        args = [busy.pk, before] if before else [busy.pk]

        def run():
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                cursor.fetchall()

        return run

    quiet, _ = Conversation.objects.get_or_create(
        bot=bot, conversation_id="wrBenchEmpty", defaults={"name": "没有消息的群"}
    )

    def first_drawing(get):
        def run():
            clear_cache()  # as after a restart, or for a page no one has opened in this process
            get()

        return run

    rows = [
        ("history: latest 50", page(history), bare(None)),
        ("  the same, first drawing", first_drawing(page(history)), bare(None)),
        ("history: 10th older page", page(f"{history}?before={tenth_before}"), bare(tenth_before)),
        (
            "  the same, on scroll (htmx)",
            page(f"{history}?before={tenth_before}", {"HX-Request": "true"}),
            bare(tenth_before),
        ),
        ("search: rare word", page(reverse("console:search") + "?q=" + RARE_WORD), None),
        ("dashboard", page(reverse("console:dashboard")), None),
        ("audit log: first page", page(reverse("console:audit")), None),
    ]
    # What a logged-in page costs before its own work, to read the ratios by.
    floors = [
        ("logged-in empty answer", page("/bench/console/empty")),
        ("logged-in empty page", page("/bench/console/page")),
        ("history: empty conversation", page(reverse("console:history", args=[bot.pk, quiet.pk]))),
    ]
    print(
        f"\n{Message.objects.count():,} messages, {Conversation.objects.count():,} conversations; "
        f"busy conversation: {Message.objects.filter(conversation=busy).count():,} messages; "
        f"{runs} runs per row\n"
    )
    print(
        f"{'page':28} {'p50 ms':>8} {'p95 ms':>8}   {'bare SQL p50/p95 ms':>20} "
        f"{'ratio p50/p95':>15} {'paired':>8}"
    )
    failures = []
    bare_latest = None
    for name, view, sql in rows:
        if sql is None:
            view_samples = timed(view, runs)
        else:
            view_samples, sql_samples = timed_together(view, sql, runs)
        p50, p95 = p50_p95(view_samples)
        line = f"{name:28} {p50:8.1f} {p95:8.1f}"
        if sql is not None:
            s50, s95 = p50_p95(sql_samples)
            bare_latest = bare_latest or (s50, s95)
            r50, r95 = p50 / s50, p95 / s95
            # Each page run against the bare query run next to it: the machine's
            # drift cancels pair by pair, which a ratio of two medians does not ensure.
            paired = statistics.median(
                v / b for v, b in zip(view_samples, sql_samples, strict=True)
            )
            line += f"   {s50:9.2f} / {s95:7.2f} {r50:7.1f}x / {r95:4.1f}x {paired:7.1f}x"
            if r50 > 3 and "first drawing" not in name:
                failures.append(f"{name}: {r50:.1f}x its bare query (target 3x)")
        if p95 > 300:
            failures.append(f"{name}: p95 {p95:.0f} ms (target 300 ms)")
        print(line, flush=True)
    print("\nfloors (each timed in alternation with the latest page's bare query):")
    latest_bare = rows[0][2]
    for name, view in floors:
        view_samples, sql_samples = timed_together(view, latest_bare, runs)
        (p50, p95), (s50, s95) = p50_p95(view_samples), p50_p95(sql_samples)
        print(
            f"{name:28} {p50:8.1f} {p95:8.1f}   {s50:9.2f} / {s95:7.2f} "
            f"{p50 / s50:7.1f}x / {p95 / s95:4.1f}x",
            flush=True,
        )
    # The last floor: everything the history page does except fetching and drawing messages.
    latest_samples, empty_samples = timed_together(rows[0][1], floors[-1][1], runs)
    shown = statistics.median(a - b for a, b in zip(latest_samples, empty_samples, strict=True))
    print(
        f"{'50 messages (latest - empty)':28} {shown:8.1f} {'':8}   {'':20} "
        f"{shown / bare_latest[0]:7.1f}x   (median of alternating pairs)",
        flush=True,
    )
    measure_export(client)
    print()
    print("targets met" if not failures else "targets missed:\n  " + "\n  ".join(failures))
    return not failures


def measure_export(client) -> None:
    """The audit CSV streamed over HTTP, and the same writer over every message."""
    import resource

    from django.urls import reverse

    from console.export import csv_lines
    from messaging.models import Message

    def rss_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    before = rss_mb()
    start = time.perf_counter()
    response = client.get(reverse("console:audit_csv"))
    size = rows = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        rows += chunk.count(b"\n")
    took = time.perf_counter() - start
    print(
        f"\naudit CSV over HTTP: {rows - 1:,} rows, {size / 1e6:.0f} MB in {took:.1f} s "
        f"({(rows - 1) / took:,.0f} rows/s); peak RSS grew {rss_mb() - before:.0f} MB"
    )
    start = time.perf_counter()
    rows = sum(chunk.count("\n") for chunk in csv_lines(Message.objects.all())) - 1
    took = time.perf_counter() - start
    print(
        f"CSV writer over all messages: {rows:,} rows in {took:.1f} s "
        f"({rows / took:,.0f} rows/s); peak RSS grew {rss_mb() - before:.0f} MB in all"
    )


def main():
    args = parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/history.py needs PostgreSQL (--database-url postgres://…)")
    ensure_database(args.database_url)
    setup_django(args.database_url)
    bot = fill(args.rebuild)
    sys.exit(0 if measure(bot, args.runs) else 1)


if __name__ == "__main__":
    main()
