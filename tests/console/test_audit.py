import csv
import datetime as dt
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from audit.services import record_action
from messaging.models import Message
from tests.announcement_posts import post_confirmed

AUDIT = reverse("console:audit")
CSV = reverse("console:audit_csv")


def read_csv(response) -> list[dict]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_audit_log_lists_outbound_messages_with_who_sent_them(
    operator_client, operator, group, make_message
):
    make_message(group, direction="in", text="客户问题")
    make_message(
        group,
        direction="out",
        text="失败了",
        status=Message.Status.FAILED,
        source="console",
        created_by=operator,
        attempt_count=3,
        last_error="errcode 93000",
    )
    make_message(group, direction="out", text="API 发的", source="api")

    response = operator_client.get(AUDIT)

    rows = response.context["page"].rows
    assert [m.search_text for m in rows] == ["API 发的", "失败了"]
    html = response.content.decode()
    assert "alice" in html and "控制台" in html and "errcode 93000" in html


def test_audit_filters_apply_to_the_page_and_the_export(operator_client, group, make_message):
    make_message(group, direction="out", text="a", status=Message.Status.FAILED)
    make_message(group, direction="out", text="b")

    page = operator_client.get(AUDIT, {"status": "failed"})
    export = read_csv(operator_client.get(CSV, {"status": "failed"}))

    assert [m.search_text for m in page.context["page"].rows] == ["a"]
    assert [row["content"] for row in export] == ["a"]
    assert 'href="/console/audit/export.csv?status=failed"' in page.content.decode()


def test_dates_in_the_wrong_order_list_nothing_and_offer_no_export_of_the_whole_log(
    operator_client, group, make_message
):
    """The page said "No outbound message matches these filters." while its Export CSV
    button, the filters dropped, downloaded every message and recorded no filter."""
    make_message(group, direction="out", text="a")
    wrong_order = {"date_from": "2026-12-08", "date_to": "2026-12-01"}

    page = operator_client.get(AUDIT, wrong_order)
    export = operator_client.get(CSV, wrong_order)

    html = page.content.decode()
    assert "开始日期晚于结束日期" in html and "export.csv" not in html
    assert export.status_code == 400 and "开始日期晚于结束日期" in export.content.decode()
    assert not OperatorAction.objects.filter(action="messages.export").exists()


def test_a_csv_export_is_in_the_audit_log_with_its_filters(
    operator_client, operator, bot, group, make_message
):
    make_message(group, direction="out", text="a", status=Message.Status.FAILED)

    read_csv(
        operator_client.get(
            CSV, {"bot": bot.pk, "status": "failed", "date_from": "2026-01-01", "q": ""}
        )
    )

    entry = OperatorAction.objects.get(action="messages.export")
    assert entry.actor == operator and entry.bot == bot
    assert entry.details == {
        "filters": {"bot": bot.name, "status": "failed", "date_from": "2026-01-01"},
        "via": "console",
    }
    actions = operator_client.get(reverse("console:operator_actions")).content.decode()
    row = actions.split("<tbody>")[1]
    assert "导出了消息" in row and "status=failed" in row and "date_from=2026-01-01" in row


def test_a_csv_export_of_all_my_bots_is_recorded_without_a_bot(operator_client, operator):
    read_csv(operator_client.get(CSV))

    entry = OperatorAction.objects.get(action="messages.export")
    assert entry.actor == operator and entry.bot is None and entry.details["filters"] == {}


def test_csv_export_streams_every_row_in_batches(operator_client, group, make_message, monkeypatch):
    monkeypatch.setattr("console.export.BATCH_SIZE", 7)
    made = [make_message(group, direction="out", text=f"第{i}条") for i in range(30)]

    response = operator_client.get(CSV)

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = read_csv(response)
    assert [row["msgid"] for row in rows] == [m.msgid for m in reversed(made)]
    assert rows[0]["conversation_name"] == "销售群" and rows[0]["status"] == "sent"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_cannot_run_as_spreadsheet_formulas(operator_client, group, make_message, start):
    """OWASP's list: a spreadsheet runs a cell starting with any of these as a formula."""
    text = start + 'HYPERLINK("http://evil")'
    make_message(group, direction="out", text=text)
    assert read_csv(operator_client.get(CSV))[0]["content"] == "'" + text


def test_audit_and_export_never_include_another_bots_messages(
    operator_client, group, other_group, make_message
):
    make_message(group, direction="out", text="mine")
    make_message(other_group, direction="out", text="theirs")
    assert [m.search_text for m in operator_client.get(AUDIT).context["page"].rows] == ["mine"]
    assert [r["content"] for r in read_csv(operator_client.get(CSV))] == ["mine"]


def test_operator_actions_are_listed_for_the_operators_bots_only(
    operator_client, operator, bot, other_bot
):
    record_action(operator, "secret.rotate", bot=bot, target=bot, summary="轮换密钥")
    record_action(None, "bot.update", bot=other_bot, summary="别人的机器人")

    html = operator_client.get(reverse("console:operator_actions")).content.decode()

    assert "secret.rotate" in html and "轮换了密钥" in html and "alice" in html
    assert "别人的机器人" not in html


def test_the_audit_logs_tabs_call_operators_as_its_operator_column_does(operator_client):
    """The tab said 运营操作 while the column beside it says 操作员."""
    html = operator_client.get(AUDIT).content.decode()
    tabs = html.split('<nav class="tabs">')[1].split("</nav>")[0]
    assert ">操作员操作</a>" in tabs and "运营" not in html


def test_an_announcements_action_calls_it_公告_as_the_rest_of_the_console(
    operator_client, operator, bot
):
    """The object column said 群发公告 #3 where the menu and the pages say 公告."""
    from announcements.editing import Draft, save_announcement

    draft = Draft(
        bot=bot,
        title="周报",
        body={"msgtype": "text", "text": {"content": "hi"}},
        conversation_ids=[],
        kind="once",
        schedule={"at": "2030-01-02T09:00"},
        timezone="Asia/Shanghai",
        audience="everyone",
    )
    announcement = save_announcement(operator, draft, as_draft=True)

    html = operator_client.get(reverse("console:operator_actions")).content.decode()

    assert f"公告 #{announcement.pk}" in html
    assert "群发公告" not in html


def test_operator_actions_empty_state_says_what_will_appear(operator_client):
    html = operator_client.get(reverse("console:operator_actions")).content.decode()
    assert "尚无操作员操作记录" in html


def test_audit_log_and_export_say_what_a_converted_message_was_sent_as(
    operator_client, group, make_message
):
    conversion = "sent as text: this connector has no markdown"
    make_message(
        group,
        direction="out",
        text="## 告警",
        msgtype="markdown",
        sent_as="text",
        conversion=conversion,
    )

    html = operator_client.get(AUDIT, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    exported = read_csv(operator_client.get(CSV))

    assert "以文本发送" in html and conversion in html
    assert (exported[0]["msgtype"], exported[0]["sent_as"], exported[0]["conversion"]) == (
        "markdown",
        "text",
        conversion,
    )


def test_an_empty_audit_log_without_filters_says_what_will_appear(operator_client, group):
    """It said "no outbound message matches these filters" with no filter set."""
    empty = operator_client.get(reverse("console:audit")).content.decode()
    filtered = operator_client.get(reverse("console:audit") + "?q=nothing").content.decode()

    assert "还没有发出的消息" in empty and "符合这些筛选条件" not in empty
    assert "没有符合这些筛选条件的发出消息" in filtered


def test_an_older_page_of_the_audit_log_leads_back_to_the_newest(
    operator_client, group, make_message
):
    """Keyset pages cannot be counted: "older" pages need their own way back to the top."""
    for i in range(60):
        make_message(group, direction="out", text=f"发出 {i}", status=Message.Status.FAILED)

    newest = operator_client.get(AUDIT, {"status": "failed"})
    before = newest.context["page"].next_before
    older = operator_client.get(AUDIT, {"status": "failed", "before": before})

    assert "跳到最新" not in newest.content.decode()
    assert f'href="?status=failed&amp;before={before}">更早 →' in newest.content.decode()
    html = older.content.decode()
    assert [m.search_text for m in older.context["page"].rows][0] == "发出 9"
    assert 'href="?status=failed">← 跳到最新</a>' in html and "更早 →" not in html


def test_an_older_page_with_nothing_left_says_so_and_leads_back(
    operator_client, group, make_message
):
    """Not "no message sent yet" when messages were sent: this page is past the oldest."""
    oldest = make_message(group, direction="out", text="第一条")

    html = operator_client.get(AUDIT, {"before": oldest.pk}).content.decode()

    assert "没有更早的消息。" in html and "还没有发出的消息" not in html
    assert 'href="?">跳到最新</a>' in html


def test_another_bots_message_is_no_anchor_for_an_older_page(
    operator_client, group, other_group, make_message
):
    """Its time would cut the operator's log there, telling when it was sent: it gives
    the empty page an id no message has gives."""
    day = timezone.localtime(timezone.now() - dt.timedelta(days=3)).replace(hour=10, minute=0)
    mine = [
        make_message(
            group, direction="out", text=f"发出 {i}", created_at=day - dt.timedelta(minutes=10 * i)
        )
        for i in range(10)
    ]
    theirs = make_message(
        other_group, direction="out", text="竞品", created_at=day - dt.timedelta(minutes=45)
    )
    dates = {"date_from": day.date().isoformat(), "date_to": day.date().isoformat()}

    foreign = operator_client.get(AUDIT, {**dates, "before": theirs.pk})
    unknown = operator_client.get(AUDIT, {**dates, "before": theirs.pk + 1000})
    own = operator_client.get(AUDIT, {**dates, "before": mine[4].pk})

    assert foreign.context["page"].rows == unknown.context["page"].rows == []
    assert [m.pk for m in own.context["page"].rows] == [m.pk for m in mine[5:]]


def test_filters_that_cannot_be_read_are_named_ignored_and_the_others_apply(
    operator_client, group, make_message
):
    """`?since=garbage&bot=abc` showed "选择一个有效的选项： 该选择不在可用的选项中。 输入一个
    有效的日期/时间。" on one line, naming neither filter, and listed nothing."""
    make_message(group, direction="out", text="a", status=Message.Status.FAILED)
    make_message(group, direction="out", text="b")

    page = operator_client.get(AUDIT, {"since": "garbage", "bot": "abc", "status": "failed"})

    html = page.content.decode()
    notice = html.split('id="ignored-filters">')[1].split("</div>")[0]
    assert "以下筛选条件无法读取，已忽略" in notice
    assert "<li>机器人：你操作的机器人中没有这一个。</li>" in notice
    assert "<li>受理时间不早于：输入一个有效的日期/时间。</li>" in notice
    assert [m.search_text for m in page.context["page"].rows] == ["a"]  # status still applies
    assert 'role="alert"' not in html


def test_a_search_in_a_bot_the_operator_cannot_see_says_the_bot_filter_was_ignored(
    operator_client, group, other_bot, make_message
):
    make_message(group, direction="in", text="发版 通知")

    page = operator_client.get(reverse("console:search"), {"q": "发版", "bot": other_bot.pk})

    html = page.content.decode()
    assert "<li>机器人：你操作的机器人中没有这一个。</li>" in html.split('id="ignored-filters">')[1]
    assert [m.search_text for m in page.context["page"].rows] == ["发版 通知"]


def test_a_saved_announcements_entry_says_its_audience_and_schedule_not_its_title_again(
    client, superuser, bot, group
):
    client.force_login(superuser)
    post_confirmed(
        client,
        "/console/announcements/new/",
        {
            "bot": bot.pk,
            "title": "值班群广播",
            "msgtype": "text",
            "text__content": "今晚值班",
            "conversations": [group.pk],
            "kind": "daily",
            "time": "09:30",
            "timezone": "Asia/Shanghai",
            "schedule": "1",
        },
    )
    record_action(superuser, "announcement.create", bot=bot, summary="旧公告", details={})

    page = client.get(reverse("console:operator_actions")).content.decode()

    summaries = re.findall(r'<td class="text-cell">([^<]*)</td>', page)
    # The schedule's times are its zone's: said, as the log's own times are the server's.
    assert summaries == ["", "选定的会话 · 每天 09:30 · 时区 Asia/Shanghai"]


def test_a_one_off_announcements_entry_names_the_zone_its_time_is_in(client, superuser, bot, group):
    """ "2026-12-06 23:30（一次）" beside the log's own times (the server's zone) read as
    Shanghai time for an announcement scheduled in Tokyo."""
    client.force_login(superuser)
    post_confirmed(
        client,
        "/console/announcements/new/",
        {
            "bot": bot.pk,
            "title": "东京发布",
            "msgtype": "text",
            "text__content": "今晚发布",
            "conversations": [group.pk],
            "kind": "once",
            "at": "2030-01-02T23:30",
            "timezone": "Asia/Tokyo",
            "schedule": "1",
        },
    )

    page = client.get(reverse("console:operator_actions")).content.decode()

    assert re.findall(r'东京发布</td>\s*<td class="text-cell">([^<]*)</td>', page) == [
        "选定的会话 · 2030-01-02 23:30（一次） · 时区 Asia/Tokyo"
    ]
