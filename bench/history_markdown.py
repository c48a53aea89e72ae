"""The history page of conversations of markdown messages (`bench/history.py --markdown`).

    .venv/bin/python bench/history.py --markdown [--database-url URL] [--runs 20]

Alerting tools post markdown: short alerts (~280 bytes: a heading, quotes, WeCom's
`<font color>`, a link) and now and then a report of 2.6–3.9 KB (headings, quotes,
colours, links, a list, a mention). Two conversations of a bot `bench markdown`:

* `mixed`: 200 messages, every fifth a report (the latest page holds 40 alerts and
  10 reports);
* `reports`: 60 reports (the latest page holds 50).

Each latest page is timed cold (no bubble drawn yet: every run draws all 50, as the
first view after a message arrives or a restart of the cache) and warm (the same
page again). Bubbles are kept only in a shared cache other than the database cache
(console/bubbles.py), so with the default `dbcache` every view is cold.

Runs on SQLite in var/bench-history-markdown/ with the default database cache
unless `--database-url` names another database (a PostgreSQL database is created
when missing); the cache is CACHE_URL's (unset: the database cache, as a one-machine
install has it).
"""

import os
import time
from functools import partial

from history import PAGE, p50_p95, timed

ROOT_VAR = "var/bench-history-markdown"
MIXED_MESSAGES = 200
REPORT_EVERY = 5
REPORTS = 60

ALERT = """### <font color="warning">[FIRING:1] {name}</font>
> 实例: <font color="comment">web-{n:02}:9100</font>
> 级别: <font color="warning">critical</font>
> 摘要: CPU 使用率 9{d}% 持续 5 分钟
> [查看面板](https://grafana.example.com/d/node?orgId=1&var-host=web-{n:02})"""
ALERT_NAMES = ["HighCPUUsage", "DiskWillFillIn4h", "APIErrorRate", "PodCrashLooping"]


def alert(n: int) -> str:
    return ALERT.format(name=ALERT_NAMES[n % len(ALERT_NAMES)], n=n % 40, d=n % 10)


def report(n: int) -> str:
    """2.6 KB (8 services) to 3.9 KB (12)."""
    lines = [f"# 每日巡检报告 #{n}", "", "**环境**: 生产  **值班**: <@ops-oncall>", ""]
    for i in range(8 + n % 5):
        lines += [
            f'## {i + 1}. 服务 api-{i:02} <font color="info">正常</font>',
            f'> 可用率: <font color="info">99.9{i}%</font>  '
            f'延迟 p95: <font color="comment">{120 + i} ms</font>',
            f'> 错误数: <font color="warning">{i * 3}</font>  '
            f"[详情](https://monitor.example.com/svc/api-{i:02}?range=24h)",
            f"- 部署版本 `v2.{i}.3`，**无**告警；备注: 磁盘 {60 + i}%",
            "",
        ]
    return "\n".join(lines)


def setup(database_url: str | None) -> None:
    from pathlib import Path

    from history import ROOT, ensure_database

    if database_url:
        if database_url.startswith(("postgres://", "postgresql://")):
            ensure_database(database_url)
        os.environ["DATABASE_URL"] = database_url
    else:
        folder = ROOT / ROOT_VAR
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(folder) / 'db.sqlite3'}"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botadmin.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.CACHES["default"]["KEY_PREFIX"] = "bench-history-markdown"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def fill():
    """The bot `bench markdown` and its two conversations, made when missing."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from conversations.models import Bot, Conversation
    from messaging.models import Message
    from messaging.validation import search_text

    bot = Bot.objects.filter(name="bench markdown").first()
    if bot and Message.objects.filter(bot=bot).count() == MIXED_MESSAGES + REPORTS:
        return bot
    print("Filling the markdown conversations…", flush=True)
    with transaction.atomic():
        Bot.objects.filter(name="bench markdown").delete()
        bot = Bot.objects.create(
            name="bench markdown", agent_url="http://127.0.0.1:9", agent_token="t" * 40
        )
        user, _ = get_user_model().objects.get_or_create(username="bench-operator")
        bot.operators.add(user)
        contents = {
            "mixed": [
                report(n) if n % REPORT_EVERY == REPORT_EVERY - 1 else alert(n)
                for n in range(MIXED_MESSAGES)
            ],
            "reports": [report(n) for n in range(REPORTS)],
        }
        for name, texts in contents.items():
            conversation = Conversation.objects.create(
                bot=bot, conversation_id=f"wrMarkdown{name}", name=name
            )
            messages = []
            for text in texts:
                body = {"msgtype": "markdown", "markdown": {"content": text}}
                messages.append(
                    Message(
                        bot=bot,
                        conversation=conversation,
                        direction=Message.Direction.OUT,
                        msgtype="markdown",
                        body=body,
                        search_text=search_text(body),
                        status=Message.Status.SENT,
                        source=Message.Source.API,
                        attempt_count=1,
                    )
                )
            Message.objects.bulk_create(messages)
    return bot


def time_page(client, url: str, cold: bool, runs: int) -> tuple[float, float, int]:
    """p50, p95 and size of the page; cold: every bubble key new, so all 50 are drawn."""
    from console import bubbles

    drawing, size = bubbles.DRAWING, 0

    def run():
        nonlocal size
        if cold:
            bubbles.DRAWING = f"{drawing}-bench-{time.perf_counter_ns()}"
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        assert b'class="md-warning"' in response.content, "markdown not drawn"
        size = len(response.content)

    try:
        return *p50_p95(timed(run, runs)), size
    finally:
        bubbles.DRAWING = drawing


def measure(runs: int) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from console import markdown

    bot = fill()
    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-operator"))
    cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(
        f"\n{connection.vendor}, cache {cache}; {runs} runs per page; load average "
        f"{os.getloadavg()[0]:.1f}\n\n{'page':34} {'p50 ms':>8} {'p95 ms':>8} {'KB':>8}",
        flush=True,
    )
    for conversation in bot.conversations.order_by("name"):
        url = reverse("console:history", args=[bot.pk, conversation.pk])
        contents = [
            m.body["markdown"]["content"] for m in conversation.messages.order_by("-id")[:PAGE]
        ]
        markdown_kb = sum(len(content.encode()) for content in contents) / 1000
        for cold in (True, False):
            p50, p95, size = time_page(client, url, cold, runs)
            label = f"{conversation.name} ({markdown_kb:.0f} KB md), {'cold' if cold else 'warm'}"
            print(f"{label:34} {p50:8.1f} {p95:8.1f} {size / 1000:8.1f}", flush=True)
        render_all = partial(lambda texts: [markdown.render(text) for text in texts], contents)
        p50, p95 = p50_p95(timed(render_all, runs))
        print(f"{'  of which the 50 renders alone':34} {p50:8.1f} {p95:8.1f}", flush=True)


def main(database_url: str | None, runs: int) -> None:
    print(time.strftime("%Y-%m-%d %H:%M %Z"), flush=True)
    setup(database_url)
    measure(runs)
