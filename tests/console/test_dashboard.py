import copy
import datetime as dt
import html
import re
import uuid

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from botadmin.reasons import Reason
from messaging.delivery_caps import HELD
from messaging.models import Message
from messaging.status_labels import clock_time
from tests.counted_queries import get_counting_queries

DASHBOARD = reverse("console:dashboard")


@pytest.fixture(autouse=True)
def _no_cached_days(db):
    """The dashboard caches finished days; every test starts without them."""
    cache.clear()
    yield
    cache.clear()


def test_dashboard_counts_traffic_per_day_and_delivery_health(
    operator_client, bot, group, make_message, make_attempt
):
    now = timezone.now()
    make_message(group, direction="in", text="q1")
    make_message(group, direction="in", text="q2", created_at=now - dt.timedelta(days=3))
    sent = make_message(group, direction="out", text="a1")
    make_attempt(sent, http_status=200)
    make_message(group, direction="out", text="a2", status=Message.Status.FAILED)
    make_message(group, direction="out", text="a3", status=Message.Status.SENT)
    make_message(group, direction="out", text="a4", status=Message.Status.SENT)
    make_message(
        group,
        direction="out",
        text="wait",
        status=Message.Status.QUEUED,
        attempt_count=2,
        created_at=now - dt.timedelta(hours=2, minutes=5),
    )
    make_message(
        group, direction="out", text="going", status=Message.Status.SENDING, attempt_count=1
    )
    make_message(group, direction="in", text="old", created_at=now - dt.timedelta(days=45))

    response = operator_client.get(DASHBOARD)

    chart = response.context["chart"]
    assert chart["total_in"] == 2 and chart["total_out"] == 6
    assert len([b for b in chart["bars"] if b.series == "in"]) == 30
    health = response.context["health"]
    assert health["success_rate"] == 75.0
    assert health["waiting"] == 2 and health["retrying"] == 1 and health["failed_today"] == 1
    html = response.content.decode()
    assert "<svg" in html and "75.0%" in html and "2\xa0小时，5\xa0分钟前" in html
    assert response.context["agents"][0].last_contact is not None


def test_dashboard_of_one_bot_and_overall(
    operator_client, superuser, client, bot, group, other_group, make_message
):
    make_message(group, direction="in")
    make_message(other_group, direction="in")
    make_message(other_group, direction="in")
    client = Client()
    client.force_login(superuser)

    overall = client.get(DASHBOARD).context["chart"]["total_in"]
    one = client.get(DASHBOARD, {"bot": bot.pk}).context["chart"]["total_in"]
    mine = operator_client.get(DASHBOARD).context["chart"]["total_in"]

    assert (overall, one, mine) == (3, 1, 1)


def test_the_bot_menu_is_applied_by_its_button_not_on_change(operator_client, bot):
    """A select that submitted on change reloaded the page on the first arrow key
    (WCAG 3.2.2); the button works without JavaScript, and "all my bots" is the empty choice."""
    page = operator_client.get(DASHBOARD).content.decode()
    picker = page.split('<form method="get" class="bot-picker">')[1].split("</form>")[0]

    assert "onchange" not in picker and "<noscript>" not in picker
    assert '<select name="bot"><option value="">我的全部机器人</option>' in picker
    assert '<button class="btn" type="submit">显示</button>' in picker
    everything = operator_client.get(DASHBOARD, {"bot": ""})
    assert everything.status_code == 200 and everything.context["bot"] is None


def test_dashboard_without_traffic_shows_dashes_not_errors(operator_client, bot):
    response = operator_client.get(DASHBOARD)
    assert response.status_code == 200
    assert response.context["health"]["success_rate"] is None
    assert "从未" in response.content.decode()


def test_earlier_days_are_cached_and_today_stays_live(operator_client, group, make_message):
    now = timezone.now()
    make_message(group, direction="in", created_at=now - dt.timedelta(days=2))
    assert operator_client.get(DASHBOARD).context["chart"]["total_in"] == 1

    make_message(group, direction="in")  # today: counted at once
    make_message(group, direction="in", created_at=now - dt.timedelta(days=2))  # cached day

    assert operator_client.get(DASHBOARD).context["chart"]["total_in"] == 2
    cache.clear()
    assert operator_client.get(DASHBOARD).context["chart"]["total_in"] == 3


def test_todays_new_messages_count_at_once_and_a_status_change_with_the_next_full_count(
    operator_client, group, make_message
):
    """Today is counted in full once a minute (kept in the shared cache with the newest
    id then), and the messages above that id on every view."""
    queued = make_message(group, direction="out", status=Message.Status.QUEUED)
    before = operator_client.get(DASHBOARD).context
    assert before["chart"]["total_out"] == 1 and before["health"]["finished"] == 0

    make_message(group, direction="out", status=Message.Status.SENT)
    Message.objects.filter(pk=queued.pk).update(status=Message.Status.SENT)
    meanwhile = operator_client.get(DASHBOARD).context
    cache.clear()  # the minute is over
    after = operator_client.get(DASHBOARD).context

    assert meanwhile["chart"]["total_out"] == 2 and meanwhile["health"]["finished"] == 1
    assert after["chart"]["total_out"] == 2 and after["health"]["finished"] == 2


def test_agent_health_shows_the_last_contact_sync_and_whether_it_failed(operator_client, bot):
    from conversations.models import SyncRun

    now = timezone.now()
    SyncRun.objects.create(bot=bot, trigger="periodic", outcome="succeeded", finished_at=now)
    SyncRun.objects.create(
        bot=bot, trigger="periodic", outcome="failed", finished_at=now, error="agent said 401"
    )

    response = operator_client.get(DASHBOARD)

    agent = response.context["agents"][0]
    assert agent.last_sync.outcome == "failed"
    assert agent.last_contact is not None  # the succeeded sync was an answer from the agent
    assert 'title="agent said 401"' in response.content.decode()


def test_the_dashboard_flags_failing_and_disabled_webhook_endpoints(operator_client, bot):
    from forwarding.models import WebhookEndpoint

    now = timezone.now()
    WebhookEndpoint.objects.create(
        bot=bot, url="https://hooks.example.com/a", failure_streak=4, failing_since=now
    )
    WebhookEndpoint.objects.create(
        bot=bot,
        url="https://hooks.example.com/b",
        disabled_at=now,
        disabled_reason="no answer",
    )
    WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example.com/c", last_success_at=now)
    WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example.com/d", is_active=False)

    operator_client.cookies["django_language"] = "en"
    page = operator_client.get(DASHBOARD).content.decode()

    assert ">Failing</span>" in page and ": 4 failures in a row" in page
    assert ">Disabled</span>" in page and "deliveries kept failing for 3 days" in page
    assert ">Healthy</span>" in page and ">Switched off</span>" in page


def test_inbound_messages_no_worker_forwarded_for_a_minute_are_flagged(
    operator_client, bot, group, make_message
):
    fresh = make_message(group, text="刚到")
    stuck = make_message(group, text="等了很久")
    Message.objects.filter(pk=fresh.pk).update(forward_pending=True)
    Message.objects.filter(pk=stuck.pk).update(
        forward_pending=True, created_at=timezone.now() - dt.timedelta(minutes=2)
    )

    page = operator_client.get(DASHBOARD).content.decode()
    assert "有 1 条收到的消息等待转发到 Webhook 已超过一分钟" in page

    Message.objects.update(forward_pending=False)  # a worker got to them
    assert "等待转发" not in operator_client.get(DASHBOARD).content.decode()


def test_the_dashboard_reads_ten_bots_with_as_many_queries_as_one(
    client, superuser, make_bot, make_conversation, make_message, make_attempt
):
    """Agent health is read for all bots at once, not bot by bot."""
    from conversations.models import SyncRun
    from forwarding.models import WebhookEndpoint

    def add_busy_bot():
        bot = make_bot()
        conversation = make_conversation(bot, f"wr{bot.pk}")
        make_message(conversation, direction="in")
        make_attempt(make_message(conversation, direction="out"), http_status=200)
        SyncRun.objects.create(
            bot=bot, trigger="periodic", outcome="succeeded", finished_at=timezone.now()
        )
        WebhookEndpoint.objects.create(bot=bot, url=f"https://hooks.example.com/{bot.pk}")

    def queries_of_the_dashboard() -> int:
        cache.clear()  # both counts start without the cached days
        queries = get_counting_queries(client, DASHBOARD)
        response = queries.response
        assert response.status_code == 200
        assert all(agent.last_sync is not None for agent in response.context["agents"])
        return len(response.context["agents"]), len(queries)

    client.force_login(superuser)
    add_busy_bot()
    bots_one, queries_one = queries_of_the_dashboard()
    for _ in range(9):
        add_busy_bot()
    bots_ten, queries_ten = queries_of_the_dashboard()

    assert (bots_one, bots_ten) == (1, 10)
    assert queries_ten == queries_one


def test_a_message_queued_seconds_ago_is_waiting_since_just_now(
    operator_client, group, make_message
):
    make_message(group, direction="out", text="刚排队", status=Message.Status.QUEUED)

    chinese = operator_client.get(DASHBOARD).content.decode()
    operator_client.cookies["django_language"] = "en"
    english = operator_client.get(DASHBOARD).content.decode()

    assert "刚刚" in chinese and "0\xa0分钟" not in chinese
    assert "just now" in english and "0\xa0minutes" not in english


def test_the_dashboard_shows_the_media_each_bot_keeps(operator_client, group, make_message):
    from media import store
    from messaging.models import MessageMedia
    from tests.images import image_bytes

    png = image_bytes("PNG", (300, 300))
    for _ in range(2):  # the same picture twice is one file
        MessageMedia.objects.create(
            message=make_message(group, msgtype="image", body={"msgtype": "image", "image": {}}),
            status="stored",
            stored_file=store.store_bytes(png),
        )

    html = operator_client.get(DASHBOARD).content.decode()

    cell = html[html.index('class="media-storage"') :]
    assert f"{len(png)}\xa0字节" in cell[:200] and "1 个文件" in cell[:200]


def test_a_queue_longer_than_the_cap_is_shown_as_999_plus(operator_client, group, make_message):
    """The dashboard counts a queue no further than 999 (counting on would cost as much as
    the backlog is long); beyond that it says "999+"."""
    from console.dashboard import COUNT_CAP

    def queue(n: int) -> None:
        first = make_message(group, direction="out", status=Message.Status.QUEUED, attempt_count=1)
        copies = []
        for _ in range(n - 1):
            first.pk = None
            first.msgid = uuid.uuid4().hex
            copies.append(copy.copy(first))
        Message.objects.bulk_create(copies)

    queue(COUNT_CAP)
    at_the_cap = operator_client.get(DASHBOARD)
    queue(2)
    past_it = operator_client.get(DASHBOARD)

    assert at_the_cap.context["health"]["waiting"] == COUNT_CAP
    html = at_the_cap.content.decode()
    assert '<strong class="warn">999</strong>' in html and "999 条等待重试" in html
    assert past_it.context["health"]["waiting"] == COUNT_CAP + 1
    html = past_it.content.decode()
    assert '<strong class="warn">999+</strong>' in html and "999+ 条等待重试" in html


def test_last_contact_is_the_newest_answered_attempt_of_the_bot_not_of_another(
    operator_client, group, other_group, make_message, make_attempt
):
    answered_at = timezone.now() - dt.timedelta(hours=3)
    answered = make_message(group, direction="out", attempt_count=1)
    make_attempt(answered, http_status=200, started_at=answered_at)
    unanswered = make_message(group, direction="out", status="failed", attempt_count=1)
    make_attempt(unanswered, outcome="failed", http_status=None)  # no HTTP answer: no contact
    for _ in range(3):  # another bot's agent answers later
        make_attempt(make_message(other_group, direction="out", attempt_count=1), http_status=200)

    [agent] = operator_client.get(DASHBOARD).context["agents"]

    assert agent.bot == group.bot and agent.last_contact == answered_at


@pytest.mark.parametrize("peak", [0, 3, 7, 10, 28, 50, 130, 999, 12_345])
def test_each_chart_axis_label_is_the_exact_value_at_its_line(peak):
    """Ticks at quarters of a maximum of 10 were labelled 2 and 7 (for 2.5 and 7.5)."""
    from console.charts import traffic_chart
    from console.dashboard import DayCount

    chart = traffic_chart([DayCount(day=dt.date(2026, 12, 3), inbound=peak, outbound=1)])

    ticks = chart["ticks"]
    top, plot_height = ticks[-1]["value"], ticks[0]["y"] - ticks[-1]["y"]
    assert top >= peak
    for tick in ticks:
        exact = top * (ticks[0]["y"] - tick["y"]) / plot_height
        assert tick["value"] == pytest.approx(exact)


@pytest.mark.parametrize("of_one_bot", [False, True])
def test_the_failed_count_links_to_exactly_the_messages_it_counted(
    client, superuser, bot, group, other_group, make_message, of_one_bot
):
    """The card counts failed and uncertain messages of the last 24 hours; its link listed
    every failed message ever, and no uncertain one (4,300 rows beside "311")."""
    now = dt.datetime(2026, 5, 4, 10, 0, 0, 600_000, tzinfo=dt.UTC)
    day_ago = now - dt.timedelta(hours=24)
    for conversation in (group, other_group):
        for status, age in [
            (Message.Status.FAILED, dt.timedelta(hours=1)),
            (Message.Status.UNCERTAIN, dt.timedelta(hours=23)),
            # Within the second the window starts in: counted, and listed (?since= is to
            # the second).
            (Message.Status.FAILED, dt.timedelta(hours=24, milliseconds=300)),
            (Message.Status.FAILED, dt.timedelta(hours=24, seconds=1)),
            (Message.Status.UNCERTAIN, dt.timedelta(days=3)),
            (Message.Status.SENT, dt.timedelta(hours=1)),
            (Message.Status.QUEUED, dt.timedelta(hours=1)),
        ]:
            make_message(conversation, direction="out", status=status, created_at=now - age)
    client.force_login(superuser)
    shown = {"bot": bot.pk} if of_one_bot else {}

    with time_machine.travel(now, tick=False):
        dashboard = client.get(DASHBOARD, shown)
        href = re.search(r'href="(/console/audit/\?[^"]*)"', dashboard.content.decode()).group(1)
        listing = client.get(html.unescape(href))

    counted = dashboard.context["health"]["failed_today"]
    rows = listing.context["page"].rows
    assert counted == len(rows) == (3 if of_one_bot else 6)
    assert {m.bot for m in rows} == ({bot} if of_one_bot else {bot, other_group.bot})
    assert {m.status for m in rows} == {"failed", "uncertain"}
    assert min(m.created_at for m in rows) > day_ago - dt.timedelta(seconds=1)
    page = listing.content.decode()
    # The window is said, and kept by the form's "Apply filters" (a hidden field).
    # The exact second on hover, the time as clock_time shows it (the day before: "昨天").
    assert 'title="2026-05-03 18:00:00">受理时间不早于 昨天 18:00</time>' in page
    assert 'name="since"' in page
    assert '<option value="undelivered" selected>失败或结果不确定</option>' in page


def test_the_connections_table_is_named_for_every_bot_kind_and_has_no_sync_for_a_listless_one(
    client, make_operator, bot, listless_bot
):
    """It was headed "Agents and webhooks" above robots, apps and AI bots alike, and offered
    "never · Sync now" for an AI bot, which has no contact sync."""
    client.force_login(make_operator("lihua", bot, listless_bot))

    page = client.get(DASHBOARD).content.decode()

    assert "<h2>连接与 Webhook</h2>" in page and "代理与 Webhook" not in page
    aibot_row = page.split(f">{listless_bot.name}</a>")[1].split("</tr>")[0]
    bridge_row = page.split(f">{bot.name}</a>")[1].split("</tr>")[0]
    assert "无：此连接器无法列出联系人" in aibot_row and "立即同步" not in aibot_row
    assert "立即同步" in bridge_row  # never synced: it can be


def test_a_group_robot_bots_row_offers_no_endpoint_and_no_sync_it_cannot_use(
    client, make_operator, make_bot, bot
):
    """A group robot only posts: "not set · Add an endpoint" invited an endpoint that
    would never get a message; and without a group entered, "never · Sync now" a sync
    its page offers no button for."""
    robot = make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")
    client.force_login(make_operator("lihua", bot, robot))

    page = client.get(DASHBOARD).content.decode()

    robot_row = page.split(f">{robot.name}</a>")[1].split("</tr>")[0]
    bridge_row = page.split(f">{bot.name}</a>")[1].split("</tr>")[0]
    assert "无：此连接器不接收消息" in robot_row and "添加端点" not in robot_row
    assert "添加端点" in bridge_row and "不接收消息" not in bridge_row
    # No group entered yet: nothing to sync (its page has no sync button), so none offered.
    assert "还没有要检查的群聊 · 添加群聊" in robot_row and "立即同步" not in robot_row
    assert "立即同步" in bridge_row

    robot.conversations.create(
        conversation_id="ops",
        kind="group",
        name="运维群",
        robot_key="693a91f6-7a3c-4bc4-97a0-0ec2b1fa5aaa",
    )
    page = client.get(DASHBOARD).content.decode()
    robot_row = page.split(f">{robot.name}</a>")[1].split("</tr>")[0]
    assert "立即同步" in robot_row and "还没有要检查的群聊" not in robot_row


def test_messages_held_until_a_time_are_counted_apart_from_the_stuck_queue(
    operator_client, bot, group, make_message
):
    """A message held back by its pace or a daily cap (not tried yet, waiting until a time
    to come) read as one more queued message, as if the queue were stuck."""
    now = timezone.now()
    queued = {"direction": "out", "status": Message.Status.QUEUED}
    make_message(group, **queued, next_attempt_at=now + dt.timedelta(minutes=5))  # its pace
    make_message(group, **queued, next_attempt_at=now + dt.timedelta(hours=9))  # a daily cap
    make_message(group, **queued, next_attempt_at=now - dt.timedelta(seconds=5))  # due again
    make_message(group, **queued)  # queued, never held
    make_message(group, **queued, attempt_count=1, next_attempt_at=now + dt.timedelta(minutes=1))
    operator_client.cookies["django_language"] = "en"

    response = operator_client.get(DASHBOARD)

    health = response.context["health"]
    assert (health["waiting"], health["retrying"], health["held"]) == (5, 1, 2)
    page = re.sub(r"<[^>]+>", "", response.content.decode())
    assert "1 waiting to retry · 2 held until a set time" in page


def oldest_due_card(page: str) -> str:
    card = page.split('class="card stat oldest-due">')[1].split("</div>")[0]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", card))).strip()


def test_the_oldest_due_message_leaves_out_what_is_held_on_purpose_and_names_it_apart(
    operator_client, operator, bot, group, make_bot, make_conversation, make_message
):
    """Made hours ago, each of these waits on purpose: the message a daily cap holds until
    its next day and the one behind it in its chat, one keeping its pace, a paused bot's
    two. None is overdue ("—"); the holds are named under the figure. A due message no
    worker took for 10 minutes is, and is flagged."""
    now = timezone.now()
    hours_ago = now - dt.timedelta(hours=3)
    queued = {"direction": "out", "status": Message.Status.QUEUED, "created_at": hours_ago}
    hold = Reason(HELD, cap="WeCom's daily cap", until="00:00", zone="China time")
    midnight = now + dt.timedelta(hours=9)
    make_message(group, **queued, next_attempt_at=midnight, last_error=hold)
    make_message(group, **queued)  # behind it
    paced = make_conversation(bot, "wrPaced")
    make_message(paced, **queued, next_attempt_at=now + dt.timedelta(seconds=40))
    paused = make_bot(name="paused", paused_at=now)
    paused.operators.add(operator)
    for n in range(2):
        make_message(make_conversation(paused, f"wrPaused{n}"), **queued)
    operator_client.cookies["django_language"] = "en"

    page = operator_client.get(DASHBOARD).content.decode()

    card = oldest_due_card(page)
    assert card.startswith("Oldest due message — ")
    with translation.override("en"):
        until = clock_time(midnight)  # "15:00", or "01:00 tomorrow" later in the day
    assert card.endswith(f"1 held by a daily cap until {until} · 2 waiting for a paused bot")
    assert '<strong class="">—</strong>' in page

    make_message(
        make_conversation(bot, "wrStuck"), **queued | {"created_at": now - dt.timedelta(minutes=10)}
    )
    page = operator_client.get(DASHBOARD).content.decode()

    assert oldest_due_card(page).startswith("Oldest due message 10 minutes ago 1 held")
    assert '<strong class="warn">10\xa0minutes ago</strong>' in page
    one_bot = operator_client.get(DASHBOARD, {"bot": paused.pk}).content.decode()
    assert oldest_due_card(one_bot) == "Oldest due message — 2 waiting for a paused bot"


def test_each_webhook_endpoint_in_the_dashboard_is_named_and_links_to_its_page(
    operator_client, bot
):
    """Three bare health lines did not say which endpoint was failing: each line names its
    endpoint (its description, else its host; with the path where two share a host) and
    links to the endpoint's page, at no extra query."""
    from forwarding.models import WebhookEndpoint

    def webhook_lines() -> dict[str, str]:
        """Each endpoint's line in the webhook cell as read, by the page it links to."""
        page = operator_client.get(DASHBOARD).content.decode()
        found = re.findall(r'<div class="endpoint-health"><a href="([^"]+)"(.*?)</div>', page, re.S)
        return {href: " ".join(html.unescape(re.sub("<[^>]+>|^[^>]*>", " ", line)).split())
                for href, line in found}  # fmt: skip

    def link(endpoint) -> str:
        return reverse("console:webhook", args=[bot.pk, endpoint.pk])

    def queries_of_the_dashboard() -> int:
        cache.clear()  # each count starts without the cached days
        return len(get_counting_queries(operator_client, DASHBOARD))

    now = timezone.now()
    crm = WebhookEndpoint.objects.create(
        bot=bot,
        url="https://user:pw@crm.example.com/hook?token=abc",
        description="CRM 同步",
        failure_streak=89,
        failing_since=now - dt.timedelta(minutes=8),
    )
    queries_for_one = queries_of_the_dashboard()
    ok = WebhookEndpoint.objects.create(
        bot=bot, url="http://127.0.0.1:7668/ok", last_success_at=now
    )
    fail = WebhookEndpoint.objects.create(
        bot=bot, url="http://127.0.0.1:7668/fail", failure_streak=3, failing_since=now
    )
    alone = WebhookEndpoint.objects.create(bot=bot, url="https://hooks.example.org/in")

    lines = webhook_lines()

    with translation.override("zh-hans"):  # the page's language
        since = {e: clock_time(e.failing_since) for e in (crm, fail)}
    assert lines == {
        link(crm): f"CRM 同步 失败中 自 {since[crm]} 起连续失败 89 次",
        link(ok): "127.0.0.1:7668/ok 正常 上次成功于不到一分钟前",
        link(fail): f"127.0.0.1:7668/fail 失败中 自 {since[fail]} 起连续失败 3 次",
        link(alone): "hooks.example.org 尚无投递",
    }
    assert queries_of_the_dashboard() == queries_for_one
