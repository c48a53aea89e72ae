"""Benchmark of the operator console's pages at 10,000 and at 1,000,000 messages.

    .venv/bin/python bench/history.py [--database-url URL] [--runs 40] [--rebuild] [--dashboard]
                                      [--deep-lists] [--audience] [--run-page] [--markdown]
                                      [--pages compose,search] [--sizes 10k]

Fills two PostgreSQL databases named after URL (default
`postgres://postgres@127.0.0.1:5432/botadmin_bench`, env BENCH_DATABASE_URL):
`…_10k` with 10,000 messages and `…_1m` with 1,000,000, each over 2,000
conversations of the main bot (one busy conversation holds 5% of them, spread
over the last 90 days) and four smaller bots (1% each), once; `--rebuild`
fills them again. Each size is measured in its own process, through the whole
Django stack in-process (middleware, session, queries, templates), logged in as
an operator of every bench bot, with the shared cache of CACHE_URL (Redis as in
production; default `redis://127.0.0.1:6379/1`).

Every console page is timed: the history page (latest and tenth older page),
its scroll fragment, search, the audit log's first page and a filtered page, the
dashboard overall and for one bot, the conversation list, and the new-announcement
page of a bot with 50,000 conversations (`bench audience`, no messages: its
audience picker). Printed for each: p50 and p95 and the page's size at both
sizes and the ratio of the p50s; `--pages` times only the pages named, `--sizes`
only the sizes named (one size: no ratio). Targets (issue 15):

* flat with the data: p50 at 1,000,000 messages within 1.3x of the p50 at 10,000;
* budget at 1,000,000: every page p95 <= 100 ms, the history page p50 <= 30 ms.

Exits 1 when a target is missed.

`--dashboard` times the dashboard alone, at 100,000 and 1,000,000 messages on SQLite
unless `--database-url` names PostgreSQL (bench/history_dashboard.py), against the same
p95 budget at every size measured.

`--deep-lists` times the first page and a page 90,000 rows down of an announcement
run's 100,000 recipients and of 100,000 operator actions, on SQLite unless
`--database-url` names PostgreSQL (bench/history_deep_lists.py).

`--audience` times the announcement audience picker of a bot with 100,000 conversations,
first and deep pages, on SQLite unless `--database-url` names PostgreSQL
(bench/history_audience.py).

`--run-page` times an announcement's page with its newest run to 100,000 groups open,
against the same page of a run to 1,000 (bench/history_run_page.py), on SQLite unless
`--database-url` (or DATABASE_URL) names PostgreSQL.

`--markdown` times instead the history page of conversations of markdown messages,
cold and warm, on SQLite or PostgreSQL (bench/history_markdown.py).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MESSAGES = 1_000_000
SIZES = {"10k": 10_000, "1m": 1_000_000}
CONVERSATIONS = 2_000
BUSY_SHARE = 20  # every 20th message goes to the busy conversation
OTHER_BOTS = 4  # each with 1% of the main bot's messages, for the dashboard
RARE_WORD = "斑马鱼zebrafish"
PAGE = 50
FLAT_RATIO = 1.3
P95_BUDGET_MS = 100
HISTORY_P50_BUDGET_MS = 30
# The compose page's bot: as many conversations as production bots have (bench/lists.py).
AUDIENCE_CONVERSATIONS = 50_000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        help="PostgreSQL; default postgres://postgres@127.0.0.1:5432/botadmin_bench "
        "(env BENCH_DATABASE_URL), with --markdown SQLite in var/bench-history-markdown/",
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="time the history page of markdown conversations instead (history_markdown.py)",
    )
    parser.add_argument(
        "--dashboard",
        action="store_true",
        help="time the dashboard alone, on SQLite unless --database-url (history_dashboard.py)",
    )
    parser.add_argument(
        "--deep-lists",
        action="store_true",
        help="time first and deep pages of 100,000-row lists instead (history_deep_lists.py)",
    )
    parser.add_argument(
        "--audience",
        action="store_true",
        help="time the audience picker of a bot with 100,000 conversations instead "
        "(history_audience.py)",
    )
    parser.add_argument(
        "--run-page",
        action="store_true",
        help="time an announcement's run page at 100,000 recipients (history_run_page.py)",
    )
    parser.add_argument("--runs", type=int, default=40, help="timed runs per page")
    parser.add_argument("--rebuild", action="store_true", help="drop and refill the data")
    parser.add_argument(
        "--pages",
        help="comma-separated page keys to time (default: all): "
        + ", ".join(key for key, _label in PAGES),
    )
    parser.add_argument(
        "--sizes", help="comma-separated: 10k,1m (default both; --dashboard: 100k,1m, or 10k)"
    )
    # Internal: measure one size in this process, results as JSON into a file.
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    return parser.parse_args()


def database_url_for(url: str, size: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_{size}"))


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_own_database(
    database_url: str | None, name: str, sqlite_path: Path, rebuild: bool
) -> None:
    """Django on a benchmark's own database, migrated: PostgreSQL's `…_<name>` next to
    `database_url` (with the shared cache of CACHE_URL), else the SQLite file
    `sqlite_path` (with the database cache, as a one-machine install); `rebuild` starts
    from an empty one."""
    if database_url:
        url = database_url_for(database_url, name)
        if rebuild:
            drop_database(url)
        ensure_database(url)
    else:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        if rebuild:
            for each in sqlite_path.parent.glob(f"{sqlite_path.name}*"):
                each.unlink()
        url = f"sqlite:///{sqlite_path}"
    setup_django(url, name.replace("_", "-"), redis=database_url is not None)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


def setup_django(url: str, size: str, redis: bool = True, bench: str = "bench-history") -> None:
    """Django on `url`; `redis`: with the shared cache of CACHE_URL, Redis unless set,
    else CACHE_URL's or the default database cache (a one-machine install's); `bench`
    prefixes the cache keys (benchmarks share the cache server)."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    if redis:
        # As production runs (sessions and the dashboard's day counts are cached there).
        os.environ.setdefault("CACHE_URL", "redis://127.0.0.1:6379/1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    import django

    django.setup()
    from django.conf import settings

    # Both sizes (and other benchmarks) share the cache server: keep their keys apart.
    settings.CACHES["default"]["KEY_PREFIX"] = f"{bench}-{size}"
    # No collectstatic needed: plain static storage, as in the tests.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# The rows of every fill, from `numbered` (i from 1, msgid, conversation, text, body,
# at), which each database's SQL makes: FILL_MESSAGES_SQL here, and for SQLite
# history_dashboard.FILL_MESSAGES_SQLITE.
INSERT_MESSAGES_SQL = """
INSERT INTO messaging_message (
    msgid, bot_id, conversation_id, direction, msgtype, body, search_text, sender_id,
    sender_name, upstream_msgid, status, source, idempotency_key, request_hash,
    attempt_count, last_error, created_at, updated_at, sent_at, forward_pending,
    sent_as, conversion, stop_requested
)
SELECT
    msgid,
    %(bot)s,
    conversation,
    CASE WHEN i %% 3 = 0 THEN 'out' ELSE 'in' END,
    'text',
    body,
    text,
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
    at,
    at,
    CASE WHEN i %% 3 = 0 THEN at END,
    false,
    '', '', ''
FROM numbered
"""

FILL_MESSAGES_SQL = (
    """
WITH convs AS (
    SELECT array_agg(id ORDER BY id) AS ids FROM conversations_conversation WHERE bot_id = %(bot)s
), words AS (
    SELECT ARRAY['订单','退款','发货','你好','谢谢','价格','会议','周报','客户','问题','invoice',
                 'meeting','refund','shipping','hello','thanks','report','update','合同','报价'] AS w
), numbered AS (
    SELECT
        i,
        md5(%(bot)s::text || '-' || i::text) AS msgid,
        CASE WHEN i %% %(busy_share)s = 0 THEN convs.ids[1]
             ELSE convs.ids[(2 + (i * 7919) %% (%(conversations)s - 1))::int] END AS conversation,
        t.text,
        jsonb_build_object('msgtype', 'text', 'text', jsonb_build_object('content', t.text)) AS body,
        now() - interval '90 days' + (i * interval '90 days' / %(messages)s) AS at
    FROM generate_series(1::bigint, %(messages)s) AS i, convs, words,
    LATERAL (
        SELECT words.w[(1 + (i * 31) %% 20)::int] || ' ' || words.w[(1 + (i * 17) %% 20)::int]
               || ' ' || words.w[(1 + (i * 13) %% 20)::int] || ' #' || i
               || CASE WHEN i IN (%(messages)s / 8, %(messages)s / 2, %(messages)s * 7 / 8)
                       THEN ' ' || %(rare)s ELSE '' END AS text
    ) AS t
)"""
    + INSERT_MESSAGES_SQL
)

FILL_ATTEMPTS_SQL = """
INSERT INTO messaging_deliveryattempt (message_id, started_at, duration_ms, outcome, http_status,
                                       errcode, response_text, worker)
SELECT id, created_at, 40 + id %% 60, CASE WHEN status = 'failed' THEN 'failed' ELSE 'sent' END,
       200, CASE WHEN status = 'failed' THEN 40008 ELSE 0 END, '{"errcode":0,"errmsg":"ok"}',
       'bench:1'
FROM messaging_message WHERE direction = 'out' AND conversation_id = %(busy)s
"""


def fill(rebuild: bool, messages: int = MESSAGES, conversations: int = CONVERSATIONS):
    """The main bench bot with `messages` over `conversations`, and OTHER_BOTS smaller
    bots; the operator `bench-operator` is assigned to all of them. Returns the main bot.

    On SQLite (`--dashboard`), into a new database (SQLite has no TRUNCATE) and without
    statistics: a production SQLite database has none, so its plans are the ones timed."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction

    from conversations.models import Bot
    from messaging.models import Message

    call_command("migrate", verbosity=0)
    bot = Bot.objects.filter(name="bench").first()
    # (--dashboard adds a few inbound messages waiting for forwarding: not counted.)
    filled = Message.objects.filter(bot=bot, forward_pending=False).count() if bot else 0
    if bot and not rebuild and filled == messages:
        return bot
    if connection.vendor != "postgresql" and Bot.objects.exists():
        sys.exit("The bench database holds other data: --rebuild makes it again.")
    print(f"Filling the benchmark database with {messages:,} messages…", flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE messaging_deliveryattempt, messaging_message, conversations_conversation,"
                " conversations_bot_operators, conversations_bot CASCADE"
            )
    user, _ = get_user_model().objects.get_or_create(username="bench-operator")
    with transaction.atomic():
        bot = _fill_bot("bench", messages, conversations)
        for n in range(OTHER_BOTS):
            _fill_bot(f"bench {n + 2}", max(messages // 100, 100), max(conversations // 10, 2))
        for each in Bot.objects.all():
            each.operators.add(user)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE messaging_message")
            cursor.execute("VACUUM ANALYZE messaging_deliveryattempt")
            cursor.execute("VACUUM ANALYZE conversations_conversation")
    return bot


def _fill_bot(name: str, messages: int, conversations: int):
    from django.db import connection

    from conversations.models import Bot, Conversation

    bot = Bot.objects.create(name=name, agent_url="http://127.0.0.1:9", agent_token="t" * 40)
    Conversation.objects.bulk_create(
        Conversation(
            bot=bot,
            conversation_id=f"wrBench{bot.pk}x{i:05}",
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
    busy = Conversation.objects.filter(bot=bot).order_by("id").first()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(FILL_MESSAGES_SQL, params)
        else:
            from history_dashboard import fill_messages_sqlite

            fill_messages_sqlite(cursor, bot, params)
        cursor.execute(FILL_ATTEMPTS_SQL, {"busy": busy.pk})
    return bot


def bot_with_groups(name: str, operator, groups: int, prefix: str):
    """A bench bot operated by `operator`, with `groups` groups named 客户群 000000, …;
    the bot and its groups' ids in order."""
    from conversations.models import Bot, Conversation

    bot = Bot.objects.create(name=name, agent_url="http://127.0.0.1:9", agent_token="t" * 40)
    bot.operators.add(operator)
    Conversation.objects.bulk_create(
        (
            Conversation(bot=bot, conversation_id=f"{prefix}{i:06}", name=f"客户群 {i:06}")
            for i in range(groups)
        ),
        batch_size=5_000,
    )
    return bot, list(bot.conversations.order_by("id").values_list("id", flat=True))


def vacuum_analyze(*tables: str) -> None:
    """After a fill on PostgreSQL, as autovacuum would later: statistics of the new rows
    (else the planner expects none) and the visibility map (index-only scans)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"VACUUM ANALYZE {table}")


def ensure_audience_bot():
    """`bench audience`: AUDIENCE_CONVERSATIONS conversations (a quarter users) and no
    messages, operated by `bench-composer` alone (the other pages' operator does not see
    it, so their figures stay comparable); made when missing."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from conversations.models import Bot, Conversation

    bot = Bot.objects.filter(name="bench audience").first()
    if bot and bot.conversations.count() == AUDIENCE_CONVERSATIONS:
        return bot
    print(f"Adding a bot with {AUDIENCE_CONVERSATIONS:,} conversations…", flush=True)
    with transaction.atomic():
        if bot is None:
            bot = Bot.objects.create(
                name="bench audience", agent_url="http://127.0.0.1:9", agent_token="t" * 40
            )
        bot.conversations.all().delete()
        Conversation.objects.bulk_create(
            (
                Conversation(
                    bot=bot,
                    conversation_id=f"wrAudience{i:06}",
                    name=f"用户 {i}" if i % 4 == 0 else f"客户群 {i}",
                    kind=Conversation.Kind.USER if i % 4 == 0 else Conversation.Kind.GROUP,
                    member_count=None if i % 4 == 0 else 3 + i % 200,
                )
                for i in range(AUDIENCE_CONVERSATIONS)
            ),
            batch_size=5_000,
        )
        user, _ = get_user_model().objects.get_or_create(username="bench-composer")
        bot.operators.add(user)
    # As after fill(): without statistics of the new rows (autovacuum may be off) the
    # planner expects one conversation and sorts all 50,000 instead of reading the index.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE conversations_conversation")
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


def p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


# (key, label); the key names the page in both sizes' results.
PAGES = [
    ("history", "history: latest 50"),
    ("history_older", "history: 10th older page"),
    ("history_scroll", "history: scroll fragment"),
    ("search", "search: rare word"),
    ("audit", "audit log: first page"),
    ("audit_filtered", "audit log: failed, one bot"),
    ("dashboard", "dashboard: all bots"),
    ("dashboard_bot", "dashboard: one bot"),
    ("conversations", "conversation list"),
    ("compose", "new announcement, 50k convs"),
]
HISTORY_PAGES = {"history", "history_older", "history_scroll"}


def measure(bot, runs: int, pages: list[str]) -> dict:
    """{page key: [p50, p95, bytes]} for this database, printed as it goes."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from conversations.models import Conversation
    from messaging.models import Message

    busy = Conversation.objects.filter(bot=bot).order_by("id").first()
    ids = list(
        Message.objects.filter(conversation=busy)
        .order_by("-id")
        .values_list("id", flat=True)[: PAGE * 10]
    )
    # The tenth page shows the 451st to 500th newest messages: it continues below the
    # 450th. (Below the 500th, as this read before, is the eleventh page: empty at
    # 10,000 messages, where the busy conversation holds 500, so the 10k side of the
    # older page and the scroll fragment timed an empty page.)
    assert len(ids) == PAGE * 10, "the busy conversation holds fewer than ten pages"
    tenth_before = ids[PAGE * 9 - 1]
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-operator"))
    history = reverse("console:history", args=[bot.pk, busy.pk])
    urls = {
        "history": (history, None),
        "history_older": (f"{history}?before={tenth_before}", None),
        "history_scroll": (f"{history}?before={tenth_before}", {"HX-Request": "true"}),
        "search": (reverse("console:search") + "?q=" + RARE_WORD, None),
        "audit": (reverse("console:audit"), None),
        "audit_filtered": (reverse("console:audit") + f"?bot={bot.pk}&status=failed", None),
        "dashboard": (reverse("console:dashboard"), None),
        "dashboard_bot": (reverse("console:dashboard") + f"?bot={bot.pk}", None),
        "conversations": (reverse("console:conversations", args=[bot.pk]), None),
    }
    clients = dict.fromkeys(urls, client)
    if "compose" in pages:
        urls["compose"] = (
            reverse("announcements:compose") + f"?bot={ensure_audience_bot().pk}",
            None,
        )
        clients["compose"] = Client()
        clients["compose"].force_login(get_user_model().objects.get(username="bench-composer"))
    sizes = {}

    def get(key, url, headers):
        def run():
            response = clients[key].get(url, headers=headers)
            assert response.status_code == 200, (url, response.status_code)
            sizes[key] = len(response.content)

        return run

    print(
        f"\n{Message.objects.count():,} messages, {Conversation.objects.count():,} conversations; "
        f"busy conversation: {Message.objects.filter(conversation=busy).count():,} messages; "
        f"{runs} runs per page\n\n{'page':28} {'p50 ms':>8} {'p95 ms':>8} {'KB':>8}",
        flush=True,
    )
    results = {}
    for key, label in PAGES:
        if key not in pages:
            continue
        p50, p95 = p50_p95(timed(get(key, *urls[key]), runs))
        results[key] = [p50, p95, sizes[key]]
        print(f"{label:28} {p50:8.1f} {p95:8.1f} {sizes[key] / 1000:8.1f}", flush=True)
    return results


def measure_export() -> None:
    """The audit CSV streamed over HTTP (every message)."""
    import resource

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-operator"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    response = client.get(reverse("console:audit_csv"))
    size = rows = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        rows += chunk.count(b"\n")
    took = time.perf_counter() - start
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    print(
        f"\naudit CSV over HTTP: {rows - 1:,} rows, {size / 1e6:.0f} MB in {took:.1f} s "
        f"({(rows - 1) / took:,.0f} rows/s); peak RSS grew {grew:.0f} MB",
        flush=True,
    )


def measure_one_size(args) -> None:
    url = database_url_for(args.database_url, args.size)
    ensure_database(url)
    setup_django(url, args.size)
    bot = fill(args.rebuild, messages=SIZES[args.size])
    pages = args.pages.split(",") if args.pages else [key for key, _label in PAGES]
    results = measure(bot, args.runs, pages)
    if args.size == "1m" and not args.pages:
        measure_export()
    Path(args.json_out).write_text(json.dumps(results))


def compare(results: dict) -> list[str]:
    """Print the sizes measured side by side, with the ratio when both were; the
    targets missed (budgets at the largest size measured)."""
    sizes = [size for size in SIZES if size in results]
    both = len(sizes) == len(SIZES)
    header = "".join(f" {size + ' p50':>8} {size + ' p95':>8}" for size in sizes)
    print(
        f"\n{'page':28}{header} {'1M/10k' if both else '':>7}  budget (p95 <= {P95_BUDGET_MS} ms; "
        f"history p50 <= {HISTORY_P50_BUDGET_MS} ms)"
    )
    failures = []
    for key, label in PAGES:
        if key not in results[sizes[0]]:
            continue
        cells = "".join(
            f" {results[size][key][0]:8.1f} {results[size][key][1]:8.1f}" for size in sizes
        )
        p50, p95 = results[sizes[-1]][key][:2]
        missed = []
        ratio = results["1m"][key][0] / results["10k"][key][0] if both else None
        if ratio is not None and ratio > FLAT_RATIO:
            missed.append(f"1M/10k {ratio:.2f}x > {FLAT_RATIO}x")
        if p95 > P95_BUDGET_MS:
            missed.append(f"p95 {p95:.0f} ms > {P95_BUDGET_MS} ms")
        if key in HISTORY_PAGES and p50 > HISTORY_P50_BUDGET_MS:
            missed.append(f"p50 {p50:.0f} ms > {HISTORY_P50_BUDGET_MS} ms")
        failures += [f"{label}: {m}" for m in missed]
        verdict = "ok" if not missed else "MISSED: " + "; ".join(missed)
        shown_ratio = f"{ratio:6.2f}x" if ratio is not None else " " * 7
        print(f"{label:28}{cells} {shown_ratio}  {verdict}", flush=True)
    return failures


def main():
    args = parse_args()
    if args.markdown:
        from history_markdown import main as measure_markdown

        measure_markdown(args.database_url, args.runs)
        return
    if args.deep_lists:
        from history_deep_lists import main as measure_deep_lists

        measure_deep_lists(args)
        return
    if args.audience:
        from history_audience import main as measure_audience

        measure_audience(args)
        return
    if args.run_page:
        from history_run_page import main as measure_run_page

        measure_run_page(args)
        return
    if args.dashboard:
        from history_dashboard import main as measure_dashboard

        measure_dashboard(args)
        return
    args.database_url = args.database_url or os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/botadmin_bench"
    )
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/history.py needs PostgreSQL (--database-url postgres://…)")
    if args.size:
        measure_one_size(args)
        return
    options = ["--database-url", args.database_url, "--runs", str(args.runs)]
    options += ["--rebuild"] if args.rebuild else []
    options += ["--pages", args.pages] if args.pages else []
    results = measure_each_size(
        __file__,
        {size: SIZES[size] for size in (args.sizes or ",".join(SIZES)).split(",")},
        options,
    )
    sys.exit(verdict(compare(results)))


def measure_each_size(script: str, sizes: dict[str, int], options: list[str]) -> dict:
    """Run `script --size <size> --json-out <file>` and `options` for each of `sizes`
    (name: messages) in a process of its own; {size: the results it wrote}."""
    print(time.strftime("%Y-%m-%d %H:%M %Z"), "load average", os.getloadavg(), flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for size, messages in sizes.items():
            out = Path(folder) / f"{size}.json"
            command = [sys.executable, script, "--size", size, "--json-out", str(out), *options]
            print(f"\n== {messages:,} messages ==", flush=True)
            subprocess.run(command, check=True, cwd=ROOT)
            results[size] = json.loads(out.read_text())
    return results


def verdict(failures: list[str]) -> int:
    """Print the targets missed (or that all were met); the exit status."""
    print("load average", os.getloadavg())
    print("\ntargets met" if not failures else "\ntargets missed:\n  " + "\n  ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    main()
