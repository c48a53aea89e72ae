"""An announcement's run page at 100,000 recipients (`bench/history.py --run-page`).

    .venv/bin/python bench/history.py --run-page [--runs 40] [--rebuild] [--database-url URL]

On SQLite by default (var/bench-history-run-page/, the database cache, no ANALYZE, as a
one-machine install runs), on PostgreSQL in `…_run_page` (with Redis as the shared
cache, CACHE_URL) when `--database-url` or DATABASE_URL names `postgres://…`.

A bot `bench run page` with 100,000 groups and two daily announcements to all its
groups, each with a page of 20 runs (console.views.announcements.RUNS_PER_PAGE):

* `large`: its newest run sends to all 100,000 groups and is part way: 60 % sent,
  8 % failed, 2 % uncertain, the rest queued (3 % waiting for a retry), the shares
  holding in every 1,000 recipients;
* `small`, the baseline: the same, its newest run to 1,000 groups, so that each page
  shows as many recipients (100, and a "Next" link) as the large one's.

The 19 older runs of each went to 500 groups and finished (2 % failed). The bot also
has 20,000 messages of its own (sent and received, 500 queued from the API).

Timed for each announcement, through the whole Django stack in-process: its page with
the newest run open, that run's failed recipients (`?recipients=failed`), and the
refresh the page polls while a run is sending (`?partial=runs`). Printed: p50 and p95,
and each large page's p50 as a multiple of the small one's (what 100 times the
recipients costs). Target: p95 <= 100 ms on every page (history.P95_BUDGET_MS); exits 1
when one is missed.
"""

import os
import sys
import time
from datetime import timedelta

from history import (
    P95_BUDGET_MS,
    ROOT,
    bot_with_groups,
    p50_p95,
    setup_own_database,
    timed,
    vacuum_analyze,
    verdict,
)

FOLDER = ROOT / "var/bench-history-run-page"
BOT = "bench run page"
GROUPS = 100_000
SMALL_RUN = 1_000
OLDER_RUNS = 19  # a page holds 20 runs
OLDER_RUN_RECIPIENTS = 500
OWN_MESSAGES = 20_000  # the bot's messages that are no announcement's
OWN_QUEUED = 500
# Shares of the newest runs' recipients, per 1,000: the rest are queued.
SENT, FAILED, UNCERTAIN, WAITING = 600, 80, 20, 30
OPERATOR = "bench-run-page"


def setup(database_url: str | None, rebuild: bool) -> None:
    setup_own_database(database_url, "run_page", FOLDER / "run_page.sqlite3", rebuild)


def newest_run_status(n: int) -> tuple[str, bool]:
    """The status of the newest runs' n-th recipient, and whether it waits for a retry:
    the shares hold in every 1,000 recipients, spread among them (7919 is prime)."""
    share = (n * 7919) % 1000
    if share < SENT:
        return "sent", False
    if share < SENT + FAILED:
        return "failed", False
    if share < SENT + FAILED + UNCERTAIN:
        return "uncertain", False
    return "queued", share < SENT + FAILED + UNCERTAIN + WAITING


def fill(groups: int = GROUPS):
    """The bot, its groups and messages, the two announcements and their runs, made once;
    the operator and the two announcements."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from announcements.models import Announcement
    from conversations.models import Bot

    operator, _ = get_user_model().objects.get_or_create(username=OPERATOR)
    bot = Bot.objects.filter(name=BOT).first()
    if bot and bot.announcements.count() == 2:
        return operator, *bot.announcements.order_by("title")
    if bot:
        sys.exit("The bench database is half filled: --rebuild makes it again.")
    print(f"Filling: {groups:,} groups, a run to all of them, 20 runs each…", flush=True)
    started = time.perf_counter()
    with transaction.atomic():
        bot, ids = bot_with_groups(BOT, operator, groups, "wrRun")
        _fill_own_messages(bot, ids)
        large = _announcement(bot, operator, "large", ids)
        small = _announcement(bot, operator, "small", ids[-SMALL_RUN:])
    vacuum_analyze("messaging_message", "messaging_announcementrun", "conversations_conversation")
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
    assert Announcement.objects.filter(bot=bot).count() == 2
    return operator, large, small


def _fill_own_messages(bot, ids: list[int]) -> None:
    from messaging.models import Message

    Message.objects.bulk_create(
        (
            Message(
                bot=bot,
                conversation_id=ids[(n * 7919) % len(ids)],
                direction="in" if n % 2 else "out",
                msgtype="text",
                body={"msgtype": "text", "text": {"content": f"消息 {n}"}},
                search_text=f"消息 {n}",
                status=("received" if n % 2 else ("queued" if n // 2 < OWN_QUEUED else "sent")),
                source="agent" if n % 2 else "api",
            )
            for n in range(OWN_MESSAGES)
        ),
        batch_size=5_000,
    )


def _announcement(bot, operator, title: str, newest_recipients: list[int]):
    """A daily announcement to all groups: OLDER_RUNS finished runs to the first
    OLDER_RUN_RECIPIENTS groups, then its newest run, to `newest_recipients`, sending."""
    from django.utils import timezone

    from announcements.models import Announcement, AnnouncementRun
    from messaging.models import Message

    now = timezone.now()
    body = {"msgtype": "text", "text": {"content": f"每日通知 {title}"}}
    announcement = Announcement.objects.create(
        bot=bot,
        title=title,
        msgtype="text",
        body=body,
        search_text=body["text"]["content"],
        audience=Announcement.Audience.GROUPS,
        schedule_kind=Announcement.Kind.DAILY,
        schedule={"time": "09:00"},
        status=Announcement.Status.ACTIVE,
        next_run_at=now + timedelta(days=1),
        last_run_at=now - timedelta(hours=1),
        created_by=operator,
    )
    all_groups = list(bot.conversations.order_by("id").values_list("id", flat=True))
    plan = [(days, all_groups[:OLDER_RUN_RECIPIENTS]) for days in range(OLDER_RUNS, 0, -1)]
    plan.append((0, newest_recipients))
    for days, recipients in plan:
        at = now - timedelta(days=days, hours=1)
        run = AnnouncementRun.objects.create(
            announcement=announcement,
            scheduled_for=at,
            started_at=at,
            status=AnnouncementRun.Status.SENDING,
            recipient_ids=recipients,
            recipient_total=len(recipients),
            fanout_cursor=len(recipients),
            fanned_out_at=at,
        )
        newest = days == 0
        messages = []
        for n, conversation in enumerate(recipients):
            if newest:
                status, waiting = newest_run_status(n)
            else:
                status, waiting = ("failed" if n % 50 == 0 else "sent"), False
            messages.append(
                Message(
                    bot=bot,
                    conversation_id=conversation,
                    announcement_run=run,
                    direction="out",
                    msgtype="text",
                    body=body,
                    search_text=body["text"]["content"],
                    status=status,
                    source="announcement",
                    created_by=operator,
                    sent_at=at if status == "sent" else None,
                    attempt_count=0 if status == "queued" and not waiting else 1,
                    next_attempt_at=now + timedelta(minutes=10) if waiting else None,
                    last_error="errcode 93000: robot webhook url expired"
                    if status in ("failed", "uncertain") or waiting
                    else "",
                )
            )
        Message.objects.bulk_create(messages, batch_size=5_000)
    return announcement


# (key, label, query string after the announcement's page)
PAGES = [
    ("run", "run page, newest run open", ""),
    ("failed", "its failed recipients", "?recipients=failed"),
    ("refresh", "refresh while sending", "?partial=runs"),
]


def measure(operator, large, small, runs: int) -> dict:
    """{(announcement title, page key): (p50, p95)}, printed as it goes."""
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from messaging.models import Message

    client = Client()
    client.force_login(operator)
    print(
        f"\n{connection.vendor}, {Message.objects.count():,} messages; newest run of "
        f"`large` {large.runs.order_by('-scheduled_for').first().recipient_total:,} "
        f"recipients, of `small` {SMALL_RUN}; {runs} runs per page; load average "
        f"{os.getloadavg()[0]:.1f}\n\n{'page':30} {'large p50':>10} {'p95':>8} "
        f"{'small p50':>10} {'p95':>8} {'large/small':>12}",
        flush=True,
    )
    results = {}
    for key, label, query in PAGES:
        for announcement in (large, small):
            url = reverse("announcements:detail", args=[announcement.pk]) + query

            def view(url=url):
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            results[announcement.title, key] = p50_p95(timed(view, runs))
        (p50, p95), (base50, base95) = results["large", key], results["small", key]
        print(
            f"{label:30} {p50:10.1f} {p95:8.1f} {base50:10.1f} {base95:8.1f} {p50 / base50:11.2f}x",
            flush=True,
        )
    return results


def missed(results: dict) -> list[str]:
    return [
        f"{title}: {key}: p95 {p95:.0f} ms > {P95_BUDGET_MS} ms"
        for (title, key), (_p50, p95) in results.items()
        if p95 > P95_BUDGET_MS
    ]


def main(args) -> None:
    url = args.database_url or os.environ.get("DATABASE_URL")
    if url and not url.startswith(("postgres://", "postgresql://")):
        sys.exit("--run-page runs on SQLite (no URL) or PostgreSQL (postgres://…)")
    setup(url, args.rebuild)
    results = measure(*fill(), args.runs)
    sys.exit(verdict(missed(results)))
