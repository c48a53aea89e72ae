"""Benchmark of a webhook endpoint's page in the console at 100,000 and 1,000,000 deliveries.

    .venv/bin/python bench/webhooks.py [--database-url URL] [--runs 40] [--rebuild]
                                       [--sizes 100k,1m] [--explain]

One bot `bench webhooks` receives N text messages (spread over the last 90 days)
and forwards each to its endpoint `busy`; one message in a hundred also goes to
a second endpoint, `quiet` (a msgtype filter). `busy` fails now and then (one
delivery in 997) and failed a quarter of its deliveries in an outage long ago
(81 to 79 days ago); its five newest wait for their first attempt. One `quiet`
delivery in 7 failed. The rest were delivered at the first attempt (one
attempt row each). Each size has its own database, filled once (`--rebuild`
fills it again): SQLite in var/bench-webhooks/<size>.sqlite3 by default, as a
one-machine install runs it (no ANALYZE: nothing in botadmin runs one), or
PostgreSQL databases named after `--database-url` with `_100k` / `_1m`
appended (VACUUM ANALYZE after the fill, as autovacuum would).

Each size is measured in its own process through the whole Django stack
(middleware, session, queries, template), logged in as a bot admin of the
bot, with the shared cache of CACHE_URL (default `redis://127.0.0.1:6379/1`,
as bench/history.py). Timed: the
endpoint's page for `busy`, its latest page and tenth older page, on the "All"
and "Failed" tabs, its "Pending" tab (five rows), and `quiet`'s latest page on
the "All" and "Failed" tabs. Besides each page's p50 and p95: the median time
of its deliveries alone ("rows": console.webhooks.deliveries_page, the page's
rows and their attempts) and of the count of failed deliveries the page shows.
`--explain` prints each page's deliveries query with its plan (EXPLAIN QUERY
PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL).

Targets, as bench/history.py's (docs/performance.md): p95 <= 100 ms for every
page at the largest size, and p50 at 1,000,000 within 1.3x of the p50 at
100,000. Exits 1 when one is missed.
"""

import argparse
import json
import os
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from history import (
    P95_BUDGET_MS,
    ROOT,
    database_url_for,
    ensure_database,
    measure_each_size,
    p50_p95,
    setup_django,
    timed,
    verdict,
)

SIZES = {"100k": 100_000, "1m": 1_000_000}
FLAT_RATIO = 1.3
QUIET_SHARE = 100  # one message in a hundred also goes to `quiet`
# `busy` fails now and then (one delivery in 997) and failed a quarter of its deliveries
# in an outage long ago (from 10 % to 12 % of the fill, 81 to 79 days ago): its
# "Failed" tab has a few recent rows, then nothing for most of its history.
BUSY_FAILED = 997
OUTAGE = (10, 12)
OUTAGE_FAILED = 4
QUIET_FAILED = 7  # one `quiet` delivery in 7 failed
PENDING = 5  # the newest deliveries of `busy` wait for their first attempt
CONVERSATIONS = 200
DAYS = 90
PAGE_SIZE = 20  # console.webhooks.DELIVERIES_PAGE, checked in measure()
TENTH = 9 * PAGE_SIZE  # the tenth page continues below the 180th newest

# (key, label, endpoint, status, tenth page)
PAGES = [
    ("all", "busy: All, latest", "busy", "", False),
    ("all_10th", "busy: All, 10th page", "busy", "", True),
    ("failed", "busy: Failed, latest", "busy", "failed", False),
    ("failed_10th", "busy: Failed, 10th page", "busy", "failed", True),
    ("pending", "busy: Pending (5 in all)", "busy", "pending", False),
    ("quiet", "quiet: All, latest", "quiet", "", False),
    ("quiet_failed", "quiet: Failed, latest", "quiet", "failed", False),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", help="PostgreSQL (one database per size); default SQLite in var/"
    )
    parser.add_argument("--runs", type=int, default=40, help="timed runs per page")
    parser.add_argument("--rebuild", action="store_true", help="drop and refill the data")
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated: 100k,1m")
    parser.add_argument("--explain", action="store_true", help="print each page's query plan")
    # Internal: measure one size in this process, results as JSON into a file.
    parser.add_argument("--size", choices=SIZES, help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    return parser.parse_args()


def setup(database_url: str | None, size: str) -> None:
    """Django on the size's database (made when missing), migrated."""
    if database_url:
        url = database_url_for(database_url, size)
        ensure_database(url)
    else:
        folder = ROOT / "var" / "bench-webhooks"
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{folder / f'{size}.sqlite3'}"
        os.environ.setdefault("BOTADMIN_VAR_DIR", str(folder))
    setup_django(url, size, bench="bench-webhooks")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def insert_select(model, values: dict[str, str], source: str, params: dict) -> None:
    """INSERT one row of `model` per row of `source`: SQL with `SELECT_ROWS FROM …`
    (after a WITH clause, if any), where the select list goes. `values` gives SQL for
    some columns (by attname); every other column takes what a new instance would
    save, its default. Written against the model's fields, so a new column with a
    default needs no change here, and one without fails loudly."""
    from django.db import connection

    template = model()
    params = dict(params)
    columns, selected = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.attname in values:
            selected.append(values[field.attname])
        else:
            name = f"default_{field.attname}"
            params[name] = field.get_db_prep_save(getattr(template, field.attname), connection)
            selected.append(f"%({name})s")
    with_clause, _, from_clause = source.rpartition("SELECT_ROWS")
    sql = (
        f"{with_clause} INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(selected)} {from_clause}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def time_after_start(column: str) -> str:
    """SQL for %(start)s plus `column` times %(step)s seconds, in the backend's own type."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return f"(%(start)s::timestamptz + {column} * %(step)s * interval '1 second')"
    # Django stores SQLite datetimes as UTC text, YYYY-MM-DD HH:MM:SS.fff sorts alike.
    shift = f"'+' || ({column} * %(step)s) || ' seconds'"
    return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', %(start)s, {shift})"


def fill(messages: int):
    """The bot, its endpoints `busy` and `quiet` with their deliveries, made when missing;
    the bot admin `bench-webhooks`. Returns the bot."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection, transaction
    from django.utils import timezone

    from conversations.models import Bot, Conversation
    from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
    from messaging.models import Message

    bot = Bot.objects.filter(name="bench webhooks").first()
    if bot:  # filled in one transaction: all there
        return bot
    print(f"Filling the database with {messages:,} messages and their deliveries…", flush=True)
    began = time.perf_counter()
    start = timezone.now() - timedelta(days=DAYS)
    times = {
        "start": start.isoformat(" ")
        if connection.vendor == "postgresql"
        else start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),  # as Django stores it
        "step": DAYS * 86400 / messages,
    }
    with transaction.atomic():
        bot = Bot.objects.create(
            name="bench webhooks", agent_url="http://127.0.0.1:9", agent_token="t" * 40
        )
        user, _ = get_user_model().objects.get_or_create(username="bench-webhooks")
        user.user_permissions.add(Permission.objects.get(codename="administer_bot"))
        bot.operators.add(user)
        Conversation.objects.bulk_create(
            Conversation(bot=bot, conversation_id=f"wrHooks{bot.pk}x{i:04}", name=f"群 {i}")
            for i in range(CONVERSATIONS)
        )
        first = Conversation.objects.filter(bot=bot).order_by("id").first().pk
        busy = WebhookEndpoint.objects.create(
            bot=bot, url="https://hooks.example.com/busy", description="busy"
        )
        quiet = WebhookEndpoint.objects.create(
            bot=bot, url="https://hooks.example.com/quiet", description="quiet", msgtypes=["text"]
        )
        body = {"msgtype": "text", "text": {"content": "订单 发货"}}
        at = time_after_start("n")
        insert_select(
            Message,
            {
                "msgid": f"'bw{bot.pk}-' || n",
                "bot_id": "%(bot)s",
                "conversation_id": f"%(first)s + n %% {CONVERSATIONS}",
                "direction": "'in'",
                "msgtype": "'text'",
                "body": "%(body)s",
                "search_text": "'订单 发货 #' || n",
                "sender_id": "'wmUser' || (n %% 500)",
                "status": "'received'",
                "source": "'agent'",
                "created_at": at,
                "updated_at": at,
            },
            "WITH RECURSIVE series(n) AS "
            "(SELECT 1 UNION ALL SELECT n + 1 FROM series WHERE n < %(count)s) "
            "SELECT_ROWS FROM series",
            {
                **times,
                "bot": bot.pk,
                "first": first,
                "count": messages,
                "body": Message._meta.get_field("body").get_db_prep_save(body, connection),
            },
        )
        first_message = Message.objects.filter(bot=bot).order_by("id").first().pk
        n = f"(m.id - {first_message} + 1)"  # the message's number in the fill
        outage = f"{n} BETWEEN {messages * OUTAGE[0] // 100} AND {messages * OUTAGE[1] // 100}"
        for endpoint, share, is_failed in (
            (busy, 1, f"({n} %% {BUSY_FAILED} = 0 OR ({outage} AND {n} %% {OUTAGE_FAILED} = 0))"),
            (quiet, QUIET_SHARE, f"{n} %% {QUIET_SHARE * QUIET_FAILED} = 0"),
        ):
            insert_select(
                WebhookDelivery,
                {
                    "message_id": "m.id",
                    "endpoint_id": "%(endpoint)s",
                    "status": f"CASE WHEN {n} > {messages - PENDING} THEN 'pending' "
                    f"WHEN {is_failed} THEN 'failed' ELSE 'delivered' END",
                    "attempt_count": f"CASE WHEN {is_failed} THEN 8 ELSE 1 END",
                    "retry_step": f"CASE WHEN {is_failed} THEN 8 ELSE 1 END",
                    "last_http_status": f"CASE WHEN {is_failed} THEN 502 ELSE 200 END",
                    "last_error": f"CASE WHEN {is_failed} THEN 'HTTP 502' ELSE '' END",
                    "delivered_at": f"CASE WHEN {is_failed} THEN NULL ELSE m.created_at END",
                    "created_at": "m.created_at",
                    "updated_at": "m.created_at",
                },
                f"SELECT_ROWS FROM messaging_message m WHERE m.bot_id = %(bot)s "
                f"AND {n} %% {share} = 0",
                {"bot": bot.pk, "endpoint": endpoint.pk},
            )
        insert_select(
            WebhookAttempt,
            {
                "delivery_id": "d.id",
                "number": "1",
                "url": "'https://hooks.example.com/' || e.description",
                "started_at": "d.created_at",
                "duration_ms": "40 + d.id %% 60",
                "outcome": "CASE WHEN d.status = 'failed' THEN 'failure' ELSE 'success' END",
                "http_status": "d.last_http_status",
                "response_text": "CASE WHEN d.status = 'failed' THEN 'Bad Gateway' ELSE 'ok' END",
                "worker": "'bench:1'",
            },
            "SELECT_ROWS FROM messaging_webhookdelivery d "
            "JOIN messaging_webhookendpoint e ON e.id = d.endpoint_id WHERE e.bot_id = %(bot)s",
            {"bot": bot.pk},
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in (
                "messaging_message",
                "messaging_webhookdelivery",
                "messaging_webhookattempt",
            ):
                cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"Filled in {time.perf_counter() - began:.0f} s", flush=True)
    return bot


def deliveries_sql(queries) -> str:
    """The page's deliveries query, among those one request made."""
    [sql] = [
        q["sql"]
        for q in queries
        if 'FROM "messaging_webhookdelivery"' in q["sql"] and f"LIMIT {PAGE_SIZE + 1}" in q["sql"]
    ]
    return sql


def explain(sql: str) -> str:
    from django.db import connection

    prefix = (
        "EXPLAIN (ANALYZE, BUFFERS) "
        if connection.vendor == "postgresql"
        else "EXPLAIN QUERY PLAN "
    )
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql)
        return "\n".join("    " + " ".join(str(c) for c in row[-1:]) for row in cursor.fetchall())


def measure(bot, runs: int, show_plans: bool) -> dict:
    """{page key: [p50, p95, bytes]} for this database, printed as it goes."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from console.webhooks import DELIVERIES_PAGE, deliveries_page

    assert DELIVERIES_PAGE == PAGE_SIZE, "bench/webhooks.py: PAGE_SIZE is out of step"
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-webhooks"))
    endpoints = {e.description: e for e in bot.webhook_endpoints.all()}
    counts = {
        name: (e.deliveries.count(), e.deliveries.filter(status="failed").count())
        for name, e in endpoints.items()
    }
    print(
        f"\n{connection.vendor}; "
        + "; ".join(f"{name}: {n:,} deliveries, {f:,} failed" for name, (n, f) in counts.items())
        + f"; {runs} runs per page; load average {os.getloadavg()[0]:.1f}"
        + f"\n\n{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'KB':>8} "
        + f"{'rows p50':>9} {'count p50':>9}",
        flush=True,
    )
    results = {}
    for key, label, name, status, tenth in PAGES:
        endpoint = endpoints[name]
        query = {"status": status} if status else {}
        shown = endpoint.deliveries.filter(**query).order_by("-id")
        expected = min(PAGE_SIZE, shown.count())
        if tenth:
            query["before"] = list(shown.values_list("id", flat=True)[:TENTH])[-1]
        path = reverse("console:webhook", args=[bot.pk, endpoint.pk])
        size = 0

        def run(path=path, query=query, expected=expected):
            nonlocal size
            response = client.get(path, query)
            assert response.status_code == 200, response.status_code
            assert response.content.count(b'<tr id="delivery-') == expected, "rows missing"
            size = len(response.content)

        def rows(endpoint=endpoint, query=query):
            deliveries_page(endpoint, query.get("status", ""), before=query.get("before"))

        def count(endpoint=endpoint):
            endpoint.deliveries.filter(status="failed").count()

        p50, p95 = p50_p95(timed(run, runs))
        rows_p50, count_p50 = (p50_p95(timed(fn, runs))[0] for fn in (rows, count))
        results[key] = [p50, p95, size, rows_p50, count_p50]
        print(
            f"{label:28} {p50:8.1f} {p95:8.1f} {size / 1000:8.1f} {rows_p50:9.2f} {count_p50:9.2f}",
            flush=True,
        )
        if show_plans:
            with CaptureQueriesContext(connection) as queries:
                client.get(path, query)
            print(explain(deliveries_sql(queries)), flush=True)
    return results


def drop_database(database_url: str | None, size: str) -> None:
    """For --rebuild: deleting a million messages row by row would take longer than
    filling them again."""
    if not database_url:
        for suffix in ("", "-wal", "-shm"):
            (ROOT / "var" / "bench-webhooks" / f"{size}.sqlite3{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    parts = urlsplit(database_url_for(database_url, size))
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


def measure_one_size(args) -> None:
    if args.rebuild:
        drop_database(args.database_url, args.size)
    setup(args.database_url, args.size)
    bot = fill(SIZES[args.size])
    Path(args.json_out).write_text(json.dumps(measure(bot, args.runs, args.explain)))


def compare(results: dict) -> list[str]:
    """Both sizes side by side with the ratio of the p50s; the targets missed."""
    sizes = [size for size in SIZES if size in results]
    both = len(sizes) == len(SIZES)
    header = "".join(
        f" {size + ' p50':>9} {size + ' p95':>9} {size + ' rows':>9}" for size in sizes
    )
    print(
        f"\n{'page':28}{header} {'1M/100k' if both else '':>8}  budget: p95 <= {P95_BUDGET_MS} ms"
    )
    failures = []
    for key, label, *_ in PAGES:
        cells = "".join(
            f" {results[s][key][0]:9.1f} {results[s][key][1]:9.1f} {results[s][key][3]:9.2f}"
            for s in sizes
        )
        p95 = results[sizes[-1]][key][1]
        ratio = results["1m"][key][0] / results["100k"][key][0] if both else None
        missed = []
        if ratio is not None and ratio > FLAT_RATIO:
            missed.append(f"1M/100k {ratio:.2f}x > {FLAT_RATIO}x")
        if p95 > P95_BUDGET_MS:
            missed.append(f"p95 {p95:.0f} ms > {P95_BUDGET_MS} ms")
        failures += [f"{label}: {m}" for m in missed]
        shown_ratio = f"{ratio:7.2f}x" if ratio is not None else " " * 8
        verdict = "ok" if not missed else "MISSED: " + "; ".join(missed)
        print(f"{label:28}{cells} {shown_ratio}  {verdict}", flush=True)
    return failures


def main():
    args = parse_args()
    if args.size:
        measure_one_size(args)
        return
    options = ["--runs", str(args.runs)]
    options += ["--database-url", args.database_url] if args.database_url else []
    options += ["--rebuild"] if args.rebuild else []
    options += ["--explain"] if args.explain else []
    results = measure_each_size(
        __file__, {size: SIZES[size] for size in args.sizes.split(",")}, options
    )
    sys.exit(verdict(compare(results)))


if __name__ == "__main__":
    main()
