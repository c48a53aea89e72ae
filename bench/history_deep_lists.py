"""Pages deep in the console's long lists (`bench/history.py --deep-lists`).

    .venv/bin/python bench/history.py --deep-lists [--runs 20] [--rebuild] [--database-url URL]

Two lists of 100,000 rows, the first page of each and one 90,000 rows down:

* an announcement run's recipients (a bot `bench lists` with 100,000 groups, an
  announcement to all its groups, one run with a message for each), 100 a page;
* the operator actions of the audit log (100,000 actions on that bot), 50 a page.

The deep pages are reached as their pagers lead there, by a cursor (the recipients'
`recipients_after`, the actions' `before`). Their URLs also carry the `?page=` the
OFFSET pagers had before, so the same bench times the code before the keyset pages
too. Targets: p95 <= 100 ms (history.P95_BUDGET_MS) on every page, and the deep page
within 1.3x (history.FLAT_RATIO) of the first one's p50; exits 1 when one is missed.

On SQLite by default (var/bench-history-deep-lists/, no ANALYZE, as a one-machine
install runs), on PostgreSQL in `…_deep_lists` with `--database-url postgres://…`.
"""

import os
import sys
import time

from history import (
    FLAT_RATIO,
    P95_BUDGET_MS,
    ROOT,
    bot_with_groups,
    p50_p95,
    setup_own_database,
    timed,
    vacuum_analyze,
    verdict,
)

ROWS = 100_000
DEEP = 90_000  # rows above the deep page
RECIPIENTS_PAGE = 100  # console.views.announcements.RECIPIENTS_PER_PAGE
ACTIONS_PAGE = 50  # console.views.audit.ACTIONS_PER_PAGE
BOT = "bench lists"


def setup(
    database_url: str | None, rebuild: bool, name: str = "deep_lists", sqlite: str = "lists.sqlite3"
) -> None:
    """Django on the `…_<name>` PostgreSQL database of `database_url`, else on SQLite in
    var/bench-history-<name>/ (`rebuild`: a new one), migrated."""
    folder = ROOT / f"var/bench-history-{name.replace('_', '-')}"
    setup_own_database(database_url, name, folder / sqlite, rebuild)


def fill():
    """The bot, its groups, the run and its messages, the actions: made once."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from announcements.models import Announcement, AnnouncementRun
    from audit.models import OperatorAction
    from conversations.models import Bot
    from messaging.models import Message

    operator, _ = get_user_model().objects.get_or_create(username="bench-lists")
    bot = Bot.objects.filter(name=BOT).first()
    if bot and OperatorAction.objects.filter(bot=bot).count() == ROWS:
        return bot, operator, AnnouncementRun.objects.get(announcement__bot=bot)
    if bot:
        sys.exit("The bench database is half filled: --rebuild makes it again.")
    print(f"Filling: {ROWS:,} groups, recipients and operator actions…", flush=True)
    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        bot, groups = bot_with_groups(BOT, operator, ROWS, "wrLists")
        announcement = Announcement.objects.create(
            bot=bot,
            title="通知",
            msgtype="text",
            body={"msgtype": "text", "text": {"content": "通知"}},
            audience=Announcement.Audience.GROUPS,
            status=Announcement.Status.FINISHED,
            created_by=operator,
        )
        run = AnnouncementRun.objects.create(
            announcement=announcement,
            scheduled_for=now,
            started_at=now,
            status=AnnouncementRun.Status.SENDING,
            recipient_ids=groups,
            recipient_total=len(groups),
            fanout_cursor=ROWS,
            fanned_out_at=now,
        )
        Message.objects.bulk_create(
            (
                Message(
                    bot=bot,
                    conversation_id=group,
                    announcement_run=run,
                    direction=Message.Direction.OUT,
                    msgtype="text",
                    body=announcement.body,
                    search_text="通知",
                    status=Message.Status.SENT if n % 50 else Message.Status.FAILED,
                    source=Message.Source.ANNOUNCEMENT,
                    sent_at=now,
                )
                for n, group in enumerate(groups)
            ),
            batch_size=5_000,
        )
        OperatorAction.objects.bulk_create(
            (
                OperatorAction(
                    actor=operator,
                    bot=bot,
                    action="bot.update" if n % 3 else "message.retry",
                    target_type="conversations.bot",
                    target_id=str(bot.pk),
                    summary="timezone, rate_limit_per_minute",
                )
                for n in range(ROWS)
            ),
            batch_size=5_000,
        )
    vacuum_analyze("messaging_message", "audit_operatoraction", "conversations_conversation")
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
    return bot, operator, run


def measure(bot, operator, run, runs: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from audit.models import OperatorAction

    client = Client()
    client.force_login(operator)
    detail = reverse("announcements:detail", args=[run.announcement_id])
    groups = run.recipient_ids
    # The deep actions page continues below the DEEP-th newest action.
    deep_action = (
        OperatorAction.objects.filter(bot=bot).order_by("-created_at", "-id").values_list("pk")
    )[DEEP - 1][0]
    actions = reverse("console:operator_actions")
    pages = {
        "recipients: first page": f"{detail}?run={run.pk}",
        "recipients: 90,000 down": f"{detail}?run={run.pk}&recipients_after={groups[DEEP - 1]}"
        f"&page={DEEP // RECIPIENTS_PAGE + 1}",
        "operator actions: first page": actions,
        "operator actions: 90,000 down": f"{actions}?before={deep_action}"
        f"&page={DEEP // ACTIONS_PAGE + 1}",
    }
    heading = f"{connection.vendor}, {ROWS:,} recipients and operator actions"
    return time_pages(
        heading, {label: (lambda url=url: client.get(url)) for label, url in pages.items()}, runs
    )


def time_pages(heading: str, requests: dict, runs: int) -> dict:
    """{label: (p50, p95)} of each request (a function answering a response), printed."""
    print(
        f"\n{heading}; {runs} runs per page; load average {os.getloadavg()[0]:.1f}\n\n"
        f"{'page':32} {'p50 ms':>8} {'p95 ms':>8}",
        flush=True,
    )
    results = {}
    for label, request in requests.items():

        def run_once(request=request, label=label):
            response = request()
            assert response.status_code == 200, (label, response.status_code)

        results[label] = p50_p95(timed(run_once, runs))
        print(f"{label:32} {results[label][0]:8.1f} {results[label][1]:8.1f}", flush=True)
    return results


def missed(results: dict, deep_pages: list[tuple[str, str]] | None = None) -> list[str]:
    """The targets missed: each page's p95, and each (first, deep) pair's ratio of p50s
    (by default the results taken two by two)."""
    failures = [
        f"{label}: p95 {p95:.0f} ms > {P95_BUDGET_MS} ms"
        for label, (_p50, p95) in results.items()
        if p95 > P95_BUDGET_MS
    ]
    if deep_pages is None:
        deep_pages = list(zip(list(results)[::2], list(results)[1::2], strict=True))
    for first, deep in deep_pages:
        ratio = results[deep][0] / results[first][0]
        print(f"{deep}: {ratio:.2f}x the first page's p50")
        if ratio > FLAT_RATIO:
            failures.append(f"{deep}: {ratio:.2f}x the first page > {FLAT_RATIO}x")
    return failures


def main(args) -> None:
    setup(args.database_url, args.rebuild)
    results = measure(*fill(), args.runs)
    sys.exit(verdict(missed(results)))
