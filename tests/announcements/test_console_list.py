"""The console's announcement list: search, status filter, paging and its empty states."""

import importlib
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from announcements import scheduler
from announcements.fanout import fan_out
from announcements.models import Announcement, AnnouncementRun
from messaging.models import Message
from tests.counted_queries import counting_queries, get_counting_queries

LIST = "/console/announcements/"


def text_body(content: str) -> dict:
    return {"msgtype": "text", "text": {"content": content}}


def titles(response) -> list[str]:
    return [announcement.title for announcement, *_rest in response.context["rows"]]


def numbered_announcements(count: int, bot_of) -> None:
    """Announcements 通知 000 to `count` - 1, each for `bot_of(i)`: drafts at odd numbers,
    cancelled at even ones."""
    Announcement.objects.bulk_create(
        Announcement(
            bot=bot_of(i),
            title=f"通知 {i:03}",
            msgtype="text",
            body=text_body("hi"),
            search_text="hi",
            status=Announcement.Status.DRAFT if i % 2 else Announcement.Status.CANCELLED,
        )
        for i in range(count)
    )


def last_run_line(response, announcement) -> str:
    """The counts under the "Last run" column's time, as read (without tags)."""
    row = response.content.decode().split(f'href="{LIST}{announcement.pk}/"')[1].split("</tr>")[0]
    line = row.split("<td>")[-1].split('<div class="muted small">')[1].split("</div>")[0]
    return re.sub(r"<[^>]+>", "", line).strip()


def test_search_finds_words_of_the_title_or_of_the_message_in_any_case(
    client, superuser, bot, make_groups, make_announcement
):
    groups = make_groups(bot, 1)
    make_announcement(bot, groups, title="Holiday notice", body=text_body("国庆放假安排"))
    make_announcement(bot, groups, title="系统维护", body=text_body("今晚 22:00 停机"))
    make_announcement(
        bot,
        groups,
        title="Release",
        body={
            "msgtype": "link",
            "link": {"title": "版本说明", "url": "https://example.com/", "desc": "What changed"},
        },
    )
    client.force_login(superuser)

    assert titles(client.get(LIST, {"q": "holiday"})) == ["Holiday notice"]
    assert titles(client.get(LIST, {"q": "放假"})) == ["Holiday notice"]
    assert titles(client.get(LIST, {"q": "版本说明"})) == ["Release"]
    assert titles(client.get(LIST, {"q": "what CHANGED"})) == ["Release"]
    # Every word must match, each in the title or the message.
    assert titles(client.get(LIST, {"q": "系统 停机"})) == ["系统维护"]
    assert titles(client.get(LIST, {"q": "系统 放假"})) == []


def test_the_status_filter_lists_announcements_in_that_state(
    client, superuser, bot, make_groups, make_announcement
):
    groups = make_groups(bot, 1)
    scheduled = make_announcement(
        bot, groups, title="每日提醒", kind="daily", schedule={"time": "09:00"}
    )
    paused = make_announcement(
        bot, groups, title="每周例会", kind="daily", schedule={"time": "10:00"}
    )
    Announcement.objects.filter(pk=paused.pk).update(status=Announcement.Status.PAUSED)
    client.force_login(superuser)

    assert titles(client.get(LIST, {"status": "active"})) == [scheduled.title]
    assert titles(client.get(LIST, {"status": "paused"})) == [paused.title]
    assert titles(client.get(LIST, {"status": "active", "q": "例会"})) == []
    page = client.get(LIST, {"status": "paused"}).content.decode()
    assert '<option value="paused" selected>已暂停</option>' in page
    assert '<option value="active">' in page and "已排期" in page


def test_the_status_filter_agrees_with_the_badge_of_a_finished_announcement_still_sending(
    client, superuser, bot, make_groups, make_announcement
):
    """Nothing is left to start, but its run has recipients to send: its badge says
    发送中, so "已完成" does not list it and "发送中" does, until the last one is sent."""
    from announcements.fanout import fan_out
    from announcements.scheduler import start_due_announcements
    from messaging.models import Message

    groups = make_groups(bot, 2)
    sending = make_announcement(bot, groups, title="正在发送")
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    done = make_announcement(bot, groups, title="已发完")
    (done_run_id,) = start_due_announcements()
    fan_out(done_run_id)
    Message.objects.filter(announcement_run_id=done_run_id).update(status="sent")
    preparing = make_announcement(bot, groups, title="准备中")
    start_due_announcements()  # its run is still handing out messages
    scheduled = make_announcement(
        bot, groups, title="明天", kind="once", schedule={"at": "2099-01-01T09:00"}
    )
    client.force_login(superuser)

    def badge(response, announcement) -> str:
        row = response.content.decode().split(f'href="/console/announcements/{announcement.pk}/"')[
            1
        ]
        return row.split('<span class="badge')[1].split("</span>")[0]

    finished = client.get(LIST, {"status": "finished"})
    still_sending = client.get(LIST, {"status": "sending"})

    assert titles(finished) == ["已发完"] and "已完成" in badge(finished, done)
    assert titles(still_sending) == ["准备中", "正在发送"]
    assert all("发送中" in badge(still_sending, a) for a in (sending, preparing))
    assert titles(client.get(LIST, {"status": "active"})) == [scheduled.title]
    page = still_sending.content.decode()
    assert '<option value="sending" selected>发送中</option>' in page
    assert page.index('value="sending"') < page.index('value="finished"')

    Message.objects.filter(announcement_run_id=run_id).update(status="failed")
    assert titles(client.get(LIST, {"status": "finished"})) == ["已发完", "正在发送"]
    assert titles(client.get(LIST, {"status": "sending"})) == ["准备中"]


def test_the_pages_keep_the_search_and_the_filter(client, superuser, bot):
    numbered_announcements(130, lambda i: bot)
    client.force_login(superuser)

    first = client.get(LIST, {"q": "通知", "status": "draft"})
    html = first.content.decode()
    next_link = re.search(r'href="(\?[^"]*page=2[^"]*)"', html).group(1).replace("&amp;", "&")
    second = client.get(LIST + next_link)

    assert "q=%E9%80%9A%E7%9F%A5" in next_link and "status=draft" in next_link
    assert "第 1 / 2 页" in html
    assert titles(first)[0] == "通知 129" and len(titles(first)) == 50
    assert titles(second) == [f"通知 {i:03}" for i in range(29, 0, -2)]


@pytest.mark.parametrize("number", ["0", "-1", "abc"])
def test_a_page_number_below_the_first_opens_the_first_page(client, superuser, bot, number):
    numbered_announcements(60, lambda i: bot)
    client.force_login(superuser)

    below = client.get(LIST, {"page": number})
    beyond = client.get(LIST, {"page": "9"})

    assert titles(below)[0] == "通知 059" and "第 1 / 2 页" in below.content.decode()
    assert titles(beyond)[-1] == "通知 000" and "第 2 / 2 页" in beyond.content.decode()


def test_an_empty_list_says_none_yet_and_offers_no_filters(client, superuser, bot):
    client.force_login(superuser)

    page = client.get(LIST).content.decode()

    assert "尚无公告：" in page
    assert 'name="q"' not in page and "符合这些筛选条件" not in page


def test_nothing_matching_is_not_none_yet_and_leads_back_to_all(
    client, superuser, bot, make_groups, make_announcement
):
    make_announcement(bot, make_groups(bot, 1), title="Holiday notice")
    client.force_login(superuser)

    page = client.get(LIST, {"q": "维护", "status": "draft"}).content.decode()

    assert "没有符合这些筛选条件的公告。" in page and "尚无公告" not in page
    assert f'<a href="{LIST}">显示全部</a>' in page
    # The filters stay filled in, to be changed.
    assert 'name="q" value="维护"' in page
    assert '<option value="draft" selected>' in page


def test_a_status_it_does_not_know_is_explained_not_ignored(
    client, superuser, bot, make_groups, make_announcement
):
    make_announcement(bot, make_groups(bot, 1), title="Holiday notice")
    client.force_login(superuser)

    response = client.get(LIST, {"status": "sent"})  # a message's status, not an announcement's

    assert response.status_code == 200 and titles(response) == []
    assert "选择一个有效的选项" in response.content.decode()


def test_the_list_is_searched_in_english_too(
    client, superuser, bot, make_groups, make_announcement
):
    make_announcement(bot, make_groups(bot, 1), title="Holiday notice")
    client.force_login(superuser)
    client.cookies["django_language"] = "en"

    nothing = client.get(LIST, {"q": "nope"}).content.decode()
    found = client.get(LIST, {"q": "holiday"}).content.decode()

    assert "No announcement matches these filters." in nothing and "Show all" in nothing
    assert "Title or text" in found and "Apply filters" in found and "Holiday notice" in found


def test_the_migration_gives_existing_announcements_their_words(bot):
    """Announcements saved before the search had none: the migration reads them from the body."""
    migration = importlib.import_module("announcements.migrations.0004_announcement_search_text")
    Announcement.objects.bulk_create(
        [
            Announcement(bot=bot, title="old", msgtype="text", body=text_body("旧的正文")),
            Announcement(
                bot=bot,
                title="old image",
                msgtype="image",
                body={"msgtype": "image", "image": {"url": "https://example.com/a.png"}},
            ),
        ]
    )

    migration.fill_search_text(apps, None)

    assert dict(Announcement.objects.values_list("title", "search_text")) == {
        "old": "旧的正文",
        "old image": "",
    }


def test_the_migration_fills_a_large_table_a_batch_at_a_time_and_a_rerun_writes_nothing(
    bot, monkeypatch
):
    """One UPDATE per batch instead of one per announcement: the migration stays quick on a
    large table (here batches of 2 for 5 rows), and a second run finds nothing to write."""
    migration = importlib.import_module("announcements.migrations.0004_announcement_search_text")
    monkeypatch.setattr(migration, "BATCH_SIZE", 2)
    Announcement.objects.bulk_create(
        [
            Announcement(bot=bot, title=f"a{i}", msgtype="text", body=text_body(f"正文{i}"))
            for i in range(5)
        ]
    )

    with CaptureQueriesContext(connection) as first:
        migration.fill_search_text(apps, None)
    with CaptureQueriesContext(connection) as again:
        migration.fill_search_text(apps, None)

    assert dict(Announcement.objects.values_list("title", "search_text")) == {
        f"a{i}": f"正文{i}" for i in range(5)
    }
    writes = [q["sql"] for q in first.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(writes) == 3 and len(first.captured_queries) == 3 + 4  # 4 SELECTs: 3 pages + end
    assert [q["sql"] for q in again.captured_queries if not q["sql"].startswith("SELECT")] == []


def test_the_last_runs_of_five_announcements_cost_as_many_queries_as_one(
    client, superuser, bot, make_groups, make_announcement
):
    """The "Last run" column counted each row's messages in a query of its own."""
    groups = make_groups(bot, 2)
    client.force_login(superuser)

    def list_sending(count: int) -> tuple[int, list]:
        for _ in range(count):
            make_announcement(bot, groups)
        for run_id in scheduler.start_due_announcements():
            fan_out(run_id)
        queries = get_counting_queries(client, LIST)
        return len(queries), queries.response.context["rows"]

    queries_for_one, [(first, first_run, *_rest)] = list_sending(1)
    earlier = first_run.scheduled_for - timedelta(days=1)
    AnnouncementRun.objects.create(
        announcement=first, scheduled_for=earlier, started_at=earlier, recipient_ids=[1]
    )
    Message.objects.filter(announcement_run=first_run).update(status=Message.Status.SENT)
    queries_for_five, rows = list_sending(4)

    assert queries_for_five == queries_for_one
    progress = {announcement.pk: (run, counts) for announcement, run, counts, _ in rows}
    assert len(progress) == 5
    assert progress[first.pk][0] == first_run  # the latest, not the one added before it
    assert [counts["sent"] for _run, counts in progress.values()] == [0, 0, 0, 0, 2]
    assert [counts["pending"] for _run, counts in progress.values()] == [2, 2, 2, 2, 0]


def test_the_bot_filter_lists_that_bots_announcements_among_the_operators_bots_only(
    client, make_bot, make_groups, make_announcement, make_operator
):
    """An operator with several bots narrows the list to one; another operator's bot is
    no choice, and asking for it explains that instead of listing it."""
    sales, support, others = make_bot(name="销售"), make_bot(name="客服"), make_bot(name="别人的")
    for bot, title in ((sales, "促销"), (support, "值班表"), (others, "秘密")):
        make_announcement(bot, make_groups(bot, 1, prefix=f"wr{bot.pk}-"), title=title)
    client.force_login(make_operator("alice", sales, support))

    everything = client.get(LIST)
    only_sales = client.get(LIST, {"bot": sales.pk})
    someone_elses = client.get(LIST, {"bot": others.pk})

    assert titles(everything) == ["值班表", "促销"]
    assert titles(only_sales) == ["促销"]
    page = only_sales.content.decode()
    assert f'<option value="{sales.pk}" selected>销售</option>' in page
    assert f'<option value="{support.pk}">客服</option>' in page
    assert "我的全部机器人" in page and "别人的" not in page
    assert titles(someone_elses) == []
    assert "选择一个有效的选项" in someone_elses.content.decode()
    assert "秘密" not in someone_elses.content.decode()


def test_the_bot_filter_is_kept_across_pages_and_with_the_search_and_the_status(
    client, superuser, make_bot
):
    first_bot, second_bot = make_bot(name="a"), make_bot(name="b")
    numbered_announcements(200, lambda i: first_bot if i % 3 else second_bot)
    client.force_login(superuser)
    query = {"bot": first_bot.pk, "q": "通知", "status": "draft"}
    expected = [f"通知 {i:03}" for i in range(199, 0, -2) if i % 3]

    first = client.get(LIST, query)
    html = first.content.decode()
    next_link = re.search(r'href="(\?[^"]*page=2[^"]*)"', html).group(1).replace("&amp;", "&")
    second = client.get(LIST + next_link)

    assert f"bot={first_bot.pk}" in next_link and "status=draft" in next_link
    assert "q=%E9%80%9A%E7%9F%A5" in next_link
    assert titles(first) + titles(second) == expected
    assert {a.bot for a, *_rest in first.context["rows"] + second.context["rows"]} == {first_bot}
    # Searching or choosing a status again keeps the bot: it is one of the form's fields.
    assert 'name="bot"' in html and f'<option value="{first_bot.pk}" selected>' in html


def test_a_bot_without_matching_announcements_says_nothing_matches_and_leads_back_to_all(
    client, superuser, make_bot, make_groups, make_announcement
):
    busy, quiet = make_bot(name="busy"), make_bot(name="quiet")
    make_announcement(busy, make_groups(busy, 1), title="Holiday notice")
    client.force_login(superuser)

    page = client.get(LIST, {"bot": quiet.pk}).content.decode()

    assert "没有符合这些筛选条件的公告。" in page and "尚无公告" not in page
    assert f'<a href="{LIST}">显示全部</a>' in page
    assert f'<option value="{quiet.pk}" selected>quiet</option>' in page


def test_an_operator_with_one_bot_is_not_offered_a_bot_to_choose(
    client, bot, make_groups, make_announcement, make_operator
):
    make_announcement(bot, make_groups(bot, 1), title="Holiday notice")
    client.force_login(make_operator("alice", bot))

    page = client.get(LIST).content.decode()
    chosen = client.get(LIST, {"bot": bot.pk}).content.decode()

    assert "Holiday notice" in page and 'name="bot"' not in page
    # A link that chose the bot shows the choice, to be cleared.
    assert f'<option value="{bot.pk}" selected>' in chosen


def test_the_bot_filter_costs_as_many_queries_for_five_announcements_as_for_one(
    client, superuser, make_bot, make_groups, make_announcement
):
    chosen, other = make_bot(name="a"), make_bot(name="b")
    groups = make_groups(chosen, 2)
    make_announcement(other, make_groups(other, 1, prefix="wrB"))
    client.force_login(superuser)

    def add_sending(count: int) -> None:
        for _ in range(count):
            make_announcement(chosen, groups)
        for run_id in scheduler.start_due_announcements():
            fan_out(run_id)

    def list_chosen_bot():
        response = client.get(LIST, {"bot": chosen.pk, "q": "Notice", "status": "sending"})
        assert {a.bot for a, *_rest in response.context["rows"]} == {chosen}
        return response

    add_sending(1)
    with counting_queries() as for_one:
        list_chosen_bot()
    add_sending(4)
    with counting_queries() as for_five:
        assert len(list_chosen_bot().context["rows"]) == 5
    assert len(for_five) <= len(for_one), [q["sql"] for q in for_five]


def test_the_last_run_adds_up_to_its_total_as_on_the_run_page(
    client, superuser, bot, make_groups, make_announcement
):
    """Sent · failed · pending did not add up when recipients were cancelled or skipped:
    the line says them, and the total, in the run page's words."""
    groups = make_groups(bot, 5)
    announcement = make_announcement(bot, groups, title="放假通知")
    (run_id,) = scheduler.start_due_announcements()
    groups[4].delete()  # before its message was made: skipped
    fan_out(run_id)
    sent, also_sent, failed, cancelled = Message.objects.filter(
        announcement_run_id=run_id
    ).order_by("pk")
    Message.objects.filter(pk__in=[sent.pk, also_sent.pk]).update(status=Message.Status.SENT)
    Message.objects.filter(pk=failed.pk).update(status=Message.Status.FAILED)
    Message.objects.filter(pk=cancelled.pk).update(status=Message.Status.CANCELLED)
    client.force_login(superuser)

    listed = last_run_line(client.get(LIST), announcement)
    run_page = client.get(f"{LIST}{announcement.pk}/?partial=runs").content.decode()
    on_run_page = run_page.split('<span class="muted small run-counts">')[1].split("\n</span>")[0]

    assert listed == "2 已发送 · 1 失败 · 1 已取消 · 1 已跳过 · 0 待发送，共 5"
    assert listed == re.sub(r"<[^>]+>", "", on_run_page)


def test_the_last_run_leaves_out_cancelled_and_skipped_when_there_are_none(
    client, superuser, bot, make_groups, make_announcement
):
    announcement = make_announcement(bot, make_groups(bot, 3), title="放假通知")
    (run_id,) = scheduler.start_due_announcements()
    fan_out(run_id)
    first = Message.objects.filter(announcement_run_id=run_id).order_by("pk").first()
    Message.objects.filter(pk=first.pk).update(status=Message.Status.SENT)
    client.force_login(superuser)

    assert last_run_line(client.get(LIST), announcement) == "1 已发送 · 0 失败 · 2 待发送，共 3"
