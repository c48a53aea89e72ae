import datetime as dt

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from messaging.models import Message

SEARCH = reverse("console:search")


def result_ids(response) -> list[int]:
    return [m.pk for m in response.context["page"].rows]


def test_words_match_text_in_any_case_and_all_words_must_match(
    operator_client, group, make_message
):
    refund = make_message(group, text="关于 Refund 的问题,上周二")
    make_message(group, text="refund only")
    make_message(group, text="无关的消息")

    response = operator_client.get(SEARCH, {"q": "REFUND 上周二"})

    assert result_ids(response) == [refund.pk]
    html = response.content.decode()
    assert f"?at={refund.pk}#m{refund.pk}" in html  # links into the history at that message
    assert "关于 <mark>Refund</mark> 的问题,<mark>上周二</mark>" in html


def test_like_wildcards_in_the_words_are_taken_literally(operator_client, group, make_message):
    make_message(group, text="100% sure")
    make_message(group, text="1000 sure")
    assert len(result_ids(operator_client.get(SEARCH, {"q": "100%"}))) == 1


def test_filters_narrow_the_results(operator_client, bot, group, make_conversation, make_message):
    other = make_conversation(bot, "wrOther", name="另一个群")
    now = timezone.now()
    wanted = make_message(
        group, direction="out", text="通知 A", status=Message.Status.FAILED, source="console"
    )
    make_message(group, direction="in", text="通知 B", sender_name="张伟")
    make_message(other, direction="out", text="通知 C")
    make_message(group, direction="out", text="通知 D", created_at=now - dt.timedelta(days=40))

    def search(**filters):
        return result_ids(operator_client.get(SEARCH, {"q": "通知", **filters}))

    assert search(conversation="销售") == search(conversation="wrGroup1")
    assert wanted.pk in search(conversation="wrGroup1")
    assert len(search(conversation="wrOther")) == 1
    assert search(direction="out", status="failed") == [wanted.pk]
    assert search(source="console") == [wanted.pk]
    assert len(search(sender="张伟")) == 1
    assert len(search(date_from=(now - dt.timedelta(days=1)).date().isoformat())) == 3
    assert len(search(date_to=(now - dt.timedelta(days=30)).date().isoformat())) == 1
    assert search(msgtype="link") == []


def test_a_start_date_after_the_end_date_is_explained(operator_client, group):
    html = operator_client.get(
        SEARCH, {"q": "x", "date_from": "2026-02-01", "date_to": "2026-01-01"}
    ).content.decode()
    assert "开始日期晚于结束日期" in html


def test_search_never_finds_another_bots_messages(
    operator_client, group, other_bot, other_group, make_message
):
    make_message(group, text="共同的词")
    make_message(other_group, text="共同的词 秘密")

    assert len(result_ids(operator_client.get(SEARCH, {"q": "共同的词"}))) == 1
    assert result_ids(operator_client.get(SEARCH, {"q": "秘密"})) == []
    response = operator_client.get(SEARCH, {"q": "秘密", "bot": other_bot.pk})
    # Not a valid choice: the filter is ignored, saying so, and only the operator's own
    # bots are searched.
    assert response.context["page"].rows == []
    assert 'id="ignored-filters"' in response.content.decode()
    assert "竞品群" not in response.content.decode()


def test_results_are_paged_by_id(operator_client, group, make_message):
    made = [make_message(group, text=f"订单 {i}") for i in range(60)]
    first = operator_client.get(SEARCH, {"q": "订单"})
    second = operator_client.get(SEARCH, {"q": "订单", "before": first.context["page"].next_before})
    assert result_ids(first) == [m.pk for m in reversed(made[10:])]
    assert result_ids(second) == [m.pk for m in reversed(made[:10])]
    assert second.context["page"].next_before is None


def test_results_of_a_date_range_are_paged_by_time_newest_first(
    operator_client, group, make_message
):
    """Filtered by date, the order is the time accepted, even where ids disagree."""
    # Mid-morning where the dates are read (TIME_ZONE), so that all of them fall on one day
    # whatever time the test runs at.
    day = timezone.localtime(timezone.now() - dt.timedelta(days=3)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    made = [
        make_message(group, text=f"订单 {i}", created_at=day + dt.timedelta(minutes=i % 30))
        for i in range(60)
    ]  # ids 0..59, times 0..29, 0..29: each time twice, the later id second
    make_message(group, text="订单 今天")
    expected = [m.pk for m in sorted(made, key=lambda m: (m.created_at, m.pk), reverse=True)]
    dates = {"date_from": day.date().isoformat(), "date_to": day.date().isoformat()}

    first = operator_client.get(SEARCH, {"q": "订单", **dates})
    second = operator_client.get(
        SEARCH, {"q": "订单", **dates, "before": first.context["page"].next_before}
    )

    assert result_ids(first) + result_ids(second) == expected
    assert second.context["page"].next_before is None


def test_a_conversation_filter_matching_many_conversations_finds_all_their_messages(
    operator_client, bot, make_conversation, make_message, monkeypatch
):
    monkeypatch.setattr("console.queries.MANY_CONVERSATIONS", 2)
    made = [make_message(make_conversation(bot, f"wrShop{i}", name=f"门店 {i}")) for i in range(4)]
    make_message(make_conversation(bot, "wrOther", name="总部"))

    assert result_ids(operator_client.get(SEARCH, {"conversation": "门店"})) == [
        m.pk for m in reversed(made)
    ]
    assert result_ids(operator_client.get(SEARCH, {"conversation": "门店 1"})) == [made[1].pk]


def test_a_blank_search_explains_what_to_do(operator_client):
    assert "输入一些词语" in operator_client.get(SEARCH).content.decode()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram index is PostgreSQL-only")
def test_word_search_can_use_the_trigram_index_on_postgresql(bot, group, make_message):
    make_message(group, text="退款")
    queryset = Message.objects.filter(search_text__icontains="退款").order_by()
    with connection.cursor() as cursor:
        # Tiny tables are cheaper to scan; forbid that so the plan shows whether
        # the index can serve the query at all.
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_indexscan = off")
        try:
            plan = queryset.explain()
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_indexscan")
    assert "msg_search_trgm_idx" in plan


def test_highlighting_escapes_what_it_does_not_mark(operator_client, group, make_message):
    make_message(group, text="<b>refund</b> now")
    html = operator_client.get(SEARCH, {"q": "refund"}).content.decode()
    assert "&lt;b&gt;<mark>refund</mark>&lt;/b&gt; now" in html


def test_a_later_page_of_results_leads_back_to_the_first(operator_client, group, make_message):
    for i in range(60):
        make_message(group, text=f"订单 {i}")

    first = operator_client.get(SEARCH, {"q": "订单"})
    before = first.context["page"].next_before
    second = operator_client.get(SEARCH, {"q": "订单", "before": before})

    assert "跳到最新" not in first.content.decode()
    assert f'href="?q=%E8%AE%A2%E5%8D%95&amp;before={before}">更多结果 →' in first.content.decode()
    assert 'href="?q=%E8%AE%A2%E5%8D%95">← 跳到最新</a>' in second.content.decode()


def test_a_page_past_the_oldest_result_says_so_and_leads_back(operator_client, group, make_message):
    """Not "no message matches" when messages match: this page is past the oldest."""
    oldest = make_message(group, text="订单 1")

    html = operator_client.get(SEARCH, {"q": "订单", "before": oldest.pk}).content.decode()

    assert "没有更早的消息。" in html and "没有匹配的消息" not in html
    assert 'href="?q=%E8%AE%A2%E5%8D%95">跳到最新</a>' in html


def test_another_bots_message_is_no_anchor_for_a_page_of_results(
    operator_client, group, other_group, make_message
):
    """Its time would cut the operator's results there, telling when it was written:
    it gives the empty page an id no message has gives."""
    day = timezone.localtime(timezone.now() - dt.timedelta(days=3)).replace(hour=10, minute=0)
    mine = [
        make_message(group, text=f"订单 {i}", created_at=day - dt.timedelta(minutes=10 * i))
        for i in range(10)
    ]
    theirs = make_message(other_group, text="竞品", created_at=day - dt.timedelta(minutes=45))
    search = {"q": "订单", "date_from": day.date().isoformat(), "date_to": day.date().isoformat()}

    foreign = operator_client.get(SEARCH, {**search, "before": theirs.pk})
    unknown = operator_client.get(SEARCH, {**search, "before": theirs.pk + 1000})
    own = operator_client.get(SEARCH, {**search, "before": mine[4].pk})

    assert result_ids(foreign) == result_ids(unknown) == []
    assert result_ids(own) == [m.pk for m in mine[5:]]


def test_a_markdown_result_shows_its_words_without_the_markup(operator_client, group, make_message):
    source = '## 维护通知\n今晚 **22:00** 维护，<font color="warning">请勿</font>[发布](https://x.example/a)'
    make_message(group, msgtype="markdown", text=source)

    html = operator_client.get(SEARCH, {"q": "维护"}).content.decode()

    shown = html.split('<span class="result-text">')[1].split("</span>")[0]
    assert shown == "<mark>维护</mark>通知 今晚 22:00 <mark>维护</mark>，请勿发布"


def test_a_long_result_shows_the_part_around_the_match_escaped(
    operator_client, group, make_message
):
    make_message(group, text="前文" * 300 + " <i>退款</i> 已处理 " + "后文" * 300)

    html = operator_client.get(SEARCH, {"q": "退款"}).content.decode()

    shown = html.split('<span class="result-text">')[1].split("</span>")[0]
    assert shown.startswith("…前文") and shown.endswith("…") and len(shown) < 400
    assert "&lt;i&gt;<mark>退款</mark>&lt;/i&gt; 已处理" in shown


def test_a_sender_who_came_without_a_name_is_shown_and_found_by_the_contacts_name(
    operator_client, bot, other_bot, group, other_group, make_conversation, make_message
):
    make_conversation(bot, "wmDemoUser0002", kind="user", name="李娜")
    make_conversation(other_bot, "wmRival", kind="user", name="李娜")  # another bot's 李娜
    unnamed = make_message(group, text="退款已经处理了吗？", sender_id="wmDemoUser0002")
    make_message(other_group, text="退款呢", sender_id="wmRival")  # the operator's bots only
    make_message(group, text="退款了", sender_id="wmOther")
    make_message(group, text="退款谢谢", sender_id="wmLi", sender_name="李四")

    response = operator_client.get(SEARCH, {"q": "退款", "sender": "李"})

    assert sorted(result_ids(response)) == sorted(
        [unnamed.pk, Message.objects.get(sender_id="wmLi").pk]
    )
    html = response.content.decode()
    assert "acme · 李娜 · 文本" in html and "acme · 李四 · 文本" in html
    assert "wmDemoUser0002" not in html


def pages_of(client, path: str, params: dict) -> list[list[int]]:
    """Every page of `path`'s results for `params`, following the "older" links."""
    pages, before = [], None
    while True:
        response = client.get(path, {**params, **({"before": before} if before else {})})
        page = response.context["page"]
        pages.append([m.pk for m in page.rows])
        if page.next_before is None:
            return pages
        before = page.next_before


@pytest.fixture
def senders_here_and_there(bot, other_bot, group, other_group, make_conversation):
    """400 messages of one bot, most from 20 users; 张伟 (wmZhang) wrote often long ago
    and twice lately, 张伟华 (wmZhangWH) in between, and a contact named 张无名 whose
    messages came without a name; another bot's 张伟 too, which the operator does not see."""
    make_conversation(bot, "wmNoName", kind="user", name="张无名")

    def sender(i: int) -> tuple[str, str]:
        if (i < 120 and i % 2) or i in (350, 390):
            return "wmZhang", "张伟"
        if 150 < i < 300 and i % 7 == 0:
            return "wmZhangWH", "张伟华"
        if i % 11 == 0:
            return "wmNoName", ""
        return f"wmUser{i % 20}", f"用户{i % 20}"

    Message.objects.bulk_create(
        Message(
            msgid=f"m{i}",
            bot=bot,
            conversation=group,
            direction="in",
            msgtype="text",
            body={},
            search_text=f"消息 {i}",
            sender_id=sender(i)[0],
            sender_name=sender(i)[1],
            status="received",
            source="agent",
        )
        for i in range(400)
    )
    Message.objects.bulk_create(
        Message(
            msgid=f"x{i}",
            bot=other_bot,
            conversation=other_group,
            direction="in",
            msgtype="text",
            body={},
            sender_id="wmZhang",
            sender_name="张伟",
            status="received",
            source="agent",
        )
        for i in range(30)
    )


@pytest.mark.parametrize(
    "sender, wanted",
    [
        pytest.param("wmZhang", {"wmZhang"}, id="ID"),
        pytest.param("张伟", {"wmZhang", "wmZhangWH"}, id="part of two names"),
        pytest.param("张", {"wmZhang", "wmZhangWH", "wmNoName"}, id="a contact's name too"),
        pytest.param(
            "用户1", {f"wmUser{n}" for n in (1, *range(10, 20))}, id="those who write often"
        ),
    ],
)
def test_search_by_sender_pages_through_the_same_messages_newest_first(
    operator_client, bot, senders_here_and_there, monkeypatch, sender, wanted
):
    """The sender's messages are read in parts (a range of the newest ids, further when
    the sender is in it, the rest through the sender indexes: made small here so that a
    page crosses each) and merged: every page is still the next 50 of the sender's
    messages by id, none twice, none left out, other bots' not among them."""
    monkeypatch.setattr("console.queries.SENDER_WINDOW", 40)
    monkeypatch.setattr("console.queries.SENDER_WALK_MOST", 60)
    expected = list(
        Message.objects.filter(bot=bot, sender_id__in=wanted)
        .order_by("-id")
        .values_list("pk", flat=True)
    )

    pages = pages_of(operator_client, SEARCH, {"sender": sender})

    assert [pk for page in pages for pk in page] == expected
    assert all(len(page) == 50 for page in pages[:-1]) and len(pages) > 1


def test_the_outbound_log_by_sender_pages_through_the_same_messages(
    operator_client, bot, group, make_message, monkeypatch
):
    """The audit log reads its sender filter the same way (outbound messages with a sender:
    an operator's reply from an AI bot's conversation, say)."""
    monkeypatch.setattr("console.queries.SENDER_WINDOW", 40)
    monkeypatch.setattr("console.queries.SENDER_WALK_MOST", 60)
    Message.objects.bulk_create(
        Message(
            msgid=f"o{i}",
            bot=bot,
            conversation=group,
            direction="out",
            msgtype="text",
            body={},
            sender_id="wmOps" if i < 70 or i == 180 else "",
            sender_name="值班员" if i < 70 or i == 180 else "",
            status="sent",
            source="api",
        )
        for i in range(200)
    )
    expected = list(
        Message.objects.filter(sender_id="wmOps").order_by("-id").values_list("pk", flat=True)
    )

    for sender in ("wmOps", "值班"):
        pages = pages_of(operator_client, reverse("console:audit"), {"sender": sender})
        assert [pk for page in pages for pk in page] == expected
        assert [len(page) for page in pages] == [50, 21]


def test_dates_in_the_wrong_order_are_said_without_asking_for_words_already_typed(
    operator_client, group, make_message
):
    """With the words typed and the dates the wrong way round, the page said the date error
    and, under it, "Type some words or choose a filter"."""
    make_message(group, text="发版通知")

    html = operator_client.get(
        SEARCH, {"q": "发版", "date_from": "2026-12-08", "date_to": "2026-12-01"}
    ).content.decode()

    assert "开始日期晚于结束日期" in html
    assert "输入一些词语或选择筛选条件" not in html
