"""The announcement audience picker of a bot with 100,000 conversations
(`bench/history.py --audience`).

    .venv/bin/python bench/history.py --audience [--runs 40] [--rebuild] [--database-url URL]

A bot `bench audience 100k` with 100,000 active conversations named as a Chinese
company's are: a quarter users (Chinese names, some Latin ones), the rest group chats
("上海销售群12", "客户群 3071", "Project Apollo 7"). Timed, logged in as its only
operator: the picker's first page (it also counts the matches), its page 90,000
conversations down (reached by the `after` its pager posts), a search's first page, and
the new-announcement page (picker, counts, @mention suggestions). Targets: p95 <= 100 ms
(history.P95_BUDGET_MS) on every page, and the deep page within 1.3x
(history.FLAT_RATIO) of the first one's p50; exits 1 when one is missed.

On SQLite by default (var/bench-history-audience/, no ANALYZE, as a one-machine install
runs), on PostgreSQL in `…_audience` with `--database-url postgres://…`.
"""

import random
import sys
import time

from history import verdict
from history_deep_lists import missed, setup, time_pages

ROWS = 100_000
DEEP = 90_000  # conversations above the deep page
BOT = "bench audience 100k"
OPERATOR = "bench-audience"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红梅鑫波斌宇浩凯健俊帆帅旭宁欣雪琳晨曦涵诺轩乐长重行"
LATIN = ["Alice", "bob", "Chen Jie", "David", "emma", "Frank Li", "Grace", "Henry Wang", "Ivy"]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "重庆", "武汉", "西安", "南京", "长沙"]
TEAMS = ["销售", "客服", "研发", "市场", "运维", "财务", "行政", "项目", "VIP客户", "渠道"]
PROJECTS = ["Apollo", "gemini", "Orion", "Atlas", "nova"]


def name_of(i: int, rng: random.Random) -> tuple[str, str]:
    """(name, kind) of the i-th conversation: a quarter users."""
    if i % 4 == 0:
        if i % 20 == 0:
            return f"{rng.choice(LATIN)} {i // 20}", "user"
        given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        return rng.choice(SURNAMES) + given, "user"
    shape = i % 3
    if shape == 0:
        return f"{rng.choice(CITIES)}{rng.choice(TEAMS)}群{rng.randrange(1, 100)}", "group"
    if shape == 1:
        return f"客户群 {i}", "group"
    return f"Project {rng.choice(PROJECTS)} {rng.randrange(1, 300)}", "group"


def fill():
    """The bot, its operator and its conversations: made once."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from conversations.models import Bot, Conversation

    operator, _ = get_user_model().objects.get_or_create(username=OPERATOR)
    bot = Bot.objects.filter(name=BOT).first()
    if bot and bot.conversations.count() == ROWS:
        return bot, operator
    if bot:
        sys.exit("The bench database is half filled: --rebuild makes it again.")
    print(f"Filling: {ROWS:,} conversations…", flush=True)
    started = time.perf_counter()
    rng = random.Random(20261206)
    with transaction.atomic():
        bot = Bot.objects.create(name=BOT, agent_url="http://127.0.0.1:9", agent_token="t" * 40)
        bot.operators.add(operator)
        rows = []
        for i in range(ROWS):
            name, kind = name_of(i, rng)
            rows.append(
                Conversation(bot=bot, conversation_id=f"wAudience{i:06}", name=name, kind=kind)
            )
        Conversation.objects.bulk_create(rows, batch_size=5_000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE conversations_conversation")
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
    return bot, operator


def deep_after(bot) -> int:
    """The `after` of the page DEEP conversations down, as the picker's pager posts it."""
    from announcements.audience import _by_name
    from conversations.models import Conversation

    _page, after = _by_name(Conversation.objects.filter(bot=bot, is_active=True), bot, None, DEEP)
    return after


def measure(bot, operator, runs: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(operator)
    picker = reverse("announcements:audience")
    posts = {
        "picker: first page": {"bot": bot.pk},
        "picker: 90,000 down": {"bot": bot.pk, "after": deep_after(bot)},
        "picker: search 客户": {"bot": bot.pk, "audience_query": "客户"},
    }
    compose = reverse("announcements:compose") + f"?bot={bot.pk}"
    requests = {
        label: (lambda data=data: client.post(picker, data)) for label, data in posts.items()
    }
    requests["new announcement page"] = lambda: client.get(compose)
    return time_pages(f"{connection.vendor}, {ROWS:,} conversations", requests, runs)


def main(args) -> None:
    setup(args.database_url, args.rebuild, "audience", "audience.sqlite3")
    results = measure(*fill(), args.runs)
    sys.exit(verdict(missed(results, [("picker: first page", "picker: 90,000 down")])))
