import datetime as dt
import re
from html import escape, unescape

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations.models import Conversation
from messaging.models import Message
from tests.counted_queries import get_counting_queries


@pytest.fixture
def history_url(bot, group):
    return reverse("console:history", args=[bot.pk, group.pk])


def shown_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<article id="m(\d+)"', response.content.decode())]


def test_timeline_shows_the_latest_fifty_oldest_first_with_sides_and_senders(
    operator_client, group, history_url, make_message
):
    made = [make_message(group, text=f"第{i}条", sender_name="张伟") for i in range(60)]
    made.append(make_message(group, direction="out", text="机器人的回答"))

    response = operator_client.get(history_url)

    assert shown_ids(response) == [m.pk for m in made[-50:]]
    html = response.content.decode()
    assert 'class="msg in' in html and 'class="msg out' in html
    assert "张伟" in html and "机器人的回答" in html
    assert "较早的消息" in html  # the link older pages load from


def test_older_pages_continue_below_the_oldest_shown_id(
    operator_client, group, history_url, make_message
):
    made = [make_message(group, text=f"m{i}") for i in range(120)]
    first = operator_client.get(history_url)
    older = operator_client.get(history_url + f"?before={shown_ids(first)[0]}")
    oldest = operator_client.get(history_url + f"?before={shown_ids(older)[0]}")

    assert shown_ids(older) == [m.pk for m in made[20:70]]
    assert shown_ids(oldest) == [m.pk for m in made[:20]]
    assert 'id="older"' in older.content.decode() and 'id="older"' not in oldest.content.decode()
    assert "会话的开始" in oldest.content.decode()


def test_an_older_page_with_nothing_left_says_so_not_that_the_conversation_is_empty(
    operator_client, group, history_url, make_message
):
    """A link to older messages kept after they were deleted (by retention, or a tab left
    open) said "No messages in this conversation yet" above "Newer messages"."""
    made = [make_message(group, text=f"m{i}") for i in range(3)]
    Message.objects.filter(pk=made[0].pk).delete()

    html = operator_client.get(history_url + f"?before={made[1].pk}").content.decode()

    assert "没有更早的消息。" in html and "此会话还没有消息" not in html
    assert "较新的消息" in html


def test_infinite_scroll_gets_only_the_older_messages(
    operator_client, group, history_url, make_message
):
    made = [make_message(group, text=f"m{i}") for i in range(60)]
    response = operator_client.get(history_url + f"?before={made[10].pk}", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert shown_ids(response) == [m.pk for m in made[:10]]


def test_history_renders_each_msgtype_like_the_chat(
    operator_client, group, history_url, make_message
):
    make_message(
        group,
        text="第一行\n第二行 @李娜",
        body={
            "msgtype": "text",
            "text": {"content": "第一行\n第二行 @李娜", "mentioned_list": ["@all"]},
        },
    )
    make_message(
        group,
        msgtype="link",
        body={
            "msgtype": "link",
            "link": {"title": "退款说明", "url": "https://example.com/r", "desc": "详情"},
        },
    )
    make_message(
        group,
        direction="out",
        msgtype="image",
        body={"msgtype": "image", "image": {"url": "https://example.com/a.png"}},
    )
    make_message(
        group,
        msgtype="miniprogram",
        body={
            "msgtype": "miniprogram",
            "miniprogram": {"appname": "小商店", "title": "新品", "page_path": "pages/a"},
        },
    )
    make_message(group, msgtype="voice", body={"msgtype": "voice", "voice": {"seconds": 3}})
    make_message(group, text="<script>alert(1)</script>")

    html = operator_client.get(history_url).content.decode()

    assert '第一行<br>第二行 <span class="mention">@李娜</span>' in html
    assert "@所有人" in html
    assert 'href="https://example.com/r"' in html and "退款说明" in html and "详情" in html
    # Not archived (sent before the media archive): named and linked, not loaded.
    assert 'href="https://example.com/a.png"' in html and "example.com 上的图片（未加载）" in html
    assert "小商店" in html and "pages/a" in html
    assert "voice" in html and '"seconds": 3' in unescape(html)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_markdown_is_drawn_as_the_chat_shows_it_and_its_source_stays_in_the_details(
    bubble_cache, operator_client, group, history_url, make_message, make_conversation
):
    make_conversation(group.bot, "zhangsan", name="张三", kind="user")
    source = (
        '## 发版通知\n**v2.1** 已上线 <font color="info">成功</font>'
        ' <font color="warning">2 个告警</font>\n> 详见 [说明](https://example.com/notes)\n'
        "<@zhangsan> `make run`"
    )
    out = make_message(group, direction="out", msgtype="markdown", text=source)
    make_message(group, msgtype="markdown_v2", text="| 项 | 值 |\n|--|--|\n| a | 1 |")

    first = operator_client.get(history_url).content.decode()
    again = operator_client.get(history_url).content.decode()  # from the shared cache
    details = operator_client.get(f"{history_url}messages/{out.pk}/trace").content.decode()

    for html in (first, again):
        timeline = _timeline(html)
        assert '<div class="md-h md-h2">发版通知</div>' in timeline
        assert "<strong>v2.1</strong>" in timeline
        assert '<span class="md-info">成功</span>' in timeline
        assert '<span class="md-warning">2 个告警</span>' in timeline
        assert 'href="https://example.com/notes" target="_blank" rel="noopener noreferrer"' in (
            timeline
        )
        assert '<span class="mention" title="zhangsan">@张三</span>' in timeline
        assert "<code>make run</code>" in timeline and "<td>1</td>" in timeline
        assert "## 发版通知" not in timeline and "&lt;font" not in timeline
    assert escape(source) in details  # what was sent, as it was written


def test_markdown_written_to_attack_the_console_stays_text_in_the_timeline(
    operator_client, group, history_url, make_message
):
    make_message(
        group,
        msgtype="markdown",
        text="<script>alert(1)</script><img src=x onerror=alert(1)> [x](javascript:alert(1)) "
        '<font color="info" onmouseover="alert(1)">a ![p](https://example.com/p.png)',
    )

    timeline = _timeline(operator_client.get(history_url).content.decode())

    assert "<script>alert" not in timeline and "<img src=x" not in timeline
    assert "onmouseover" not in timeline and 'href="javascript:' not in timeline
    assert '<span class="md-info">a <a class="md-image" href="https://example.com/p.png"' in (
        timeline
    )
    assert "&lt;script&gt;" in timeline


def test_a_history_page_costs_the_same_few_queries_however_many_messages_it_shows(
    operator_client, group, history_url, make_message
):
    made = [
        make_message(group, direction="out" if i % 3 else "in", text=f"m{i}") for i in range(60)
    ]
    operator_client.get(history_url)  # the session is in the cache from now on
    counts = set()
    # The session (a cache read: a query with the database cache) and its user, the
    # conversation with its bot, the page of messages with their operators.
    for url in (
        history_url + f"?after={made[5].pk}",  # 6 to 55
        history_url,  # 10 to 59
        history_url + f"?before={made[20].pk}",  # 0 to 19
        history_url + f"?before={made[1].pk}",  # 0
    ):
        queries = get_counting_queries(operator_client, url)
        assert 'id="m' in _timeline(queries.response.content.decode())
        counts.add(len(queries))

    assert len(counts) == 1 and counts.pop() <= 4, [q["sql"] for q in queries]


def test_a_huge_raw_message_is_cut_with_a_link_to_all_of_it(
    operator_client, group, history_url, make_message
):
    huge = make_message(
        group,
        msgtype="future_type",
        body={"msgtype": "future_type", "future_type": {"blob": "数据" * 20_000}},
    )
    nested: list = []
    for _ in range(300):  # indenting this would draw ~90,000 spaces per line
        nested = [nested]
    make_message(group, msgtype="deep_type", body={"msgtype": "deep_type", "deep_type": nested})
    make_message(group, text="小消息")

    page = operator_client.get(history_url)
    html = page.content.decode()
    trace = operator_client.get(f"{history_url}messages/{huge.pk}/trace").content.decode()

    assert "小消息" in html and len(html) < 40_000
    assert (
        html.count("显示全部") == 2 and f'href="{history_url}messages/{huge.pk}/trace#body"' in html
    )
    assert '"blob": "数据数据' in unescape(html) and html.count("数据") < 1_000
    assert trace.count("数据") == 20_000


def _timeline(html: str) -> str:
    return html[html.index('id="timeline"') : html.index('class="reply-box')]


@pytest.fixture(params=["database cache", "shared cache"])
def bubble_cache(request, settings, db):
    """The database cache (with its `bubbles` table, as settings.py makes it) draws every
    bubble but markdown ones; another (Redis in production) keeps them all."""
    if request.param == "shared cache":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    else:
        settings.CACHES = {
            alias: {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": table}
            for alias, table in [("default", "test_cache"), ("bubbles", "test_bubbles")]
        }
        call_command("createcachetable", verbosity=0)
    return request.param


def _bubbles_drawn(response) -> int:
    return sum(t.name == "console/history/_bubble.html" for t in response.templates)


def test_a_bubble_shown_before_comes_from_the_shared_cache(
    bubble_cache, operator_client, group, history_url, make_message
):
    for i in range(3):
        make_message(group, text=f"消息{i}")

    first = operator_client.get(history_url)
    again = operator_client.get(history_url)

    assert _bubbles_drawn(first) == 3
    assert _bubbles_drawn(again) == (3 if bubble_cache == "database cache" else 0)
    assert _timeline(again.content.decode()) == _timeline(first.content.decode())


def test_a_markdown_bubble_is_kept_with_either_cache(
    bubble_cache, operator_client, group, history_url, make_message
):
    """Drawing markdown costs milliseconds a bubble: kept in the database cache too."""
    report = (
        '# 日报\n> 告警 <font color="warning">3</font> 条\n**已处理** [详情](https://example.com)'
    )
    for _ in range(2):
        make_message(
            group, msgtype="markdown", body={"msgtype": "markdown", "markdown": {"content": report}}
        )
    make_message(group, text="普通消息")

    first = operator_client.get(history_url)
    again = operator_client.get(history_url)

    assert _bubbles_drawn(first) == 3
    assert _bubbles_drawn(again) == (1 if bubble_cache == "database cache" else 0)
    assert '<span class="md-warning">3</span>' in _timeline(again.content.decode())
    assert _timeline(again.content.decode()) == _timeline(first.content.decode())


def test_a_message_that_changed_is_drawn_again(
    bubble_cache, operator_client, operator, group, history_url, make_message
):
    out = make_message(group, direction="out", text="通知", status=Message.Status.QUEUED)
    inbound = make_message(group, text="原来的话")
    assert 'data-status="queued"' in operator_client.get(history_url).content.decode()

    # A write that forgets updated_at still changes the status and attempts in the key.
    Message.objects.filter(pk=out.pk).update(status=Message.Status.FAILED, attempt_count=2)
    # Any other change comes with a new updated_at, as every write in messaging/ does.
    Message.objects.filter(pk=inbound.pk).update(
        body={"msgtype": "text", "text": {"content": "改过的话"}}, updated_at=timezone.now()
    )
    group.bot.name = "新名字"
    group.bot.save()

    html = operator_client.get(history_url).content.decode()
    assert 'data-status="failed"' in html and "2 次尝试" in html
    assert "改过的话" in html and "原来的话" not in html
    assert '<span class="sender">新名字</span>' in html
    operator_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "2 attempts" in operator_client.get(history_url).content.decode()


def test_a_contact_renamed_by_a_sync_shows_its_new_name_in_kept_bubbles(
    bubble_cache, operator_client, bot, group, history_url, make_message, make_conversation
):
    make_conversation(bot, "wmZhang", kind="user", name="张伟")
    mention = {"content": "请 <@wmZhang> 看一下", "mentioned_list": ["wmZhang"]}
    make_message(group, text=mention["content"], body={"msgtype": "text", "text": mention})
    make_message(
        group,
        msgtype="markdown",
        body={"msgtype": "markdown", "markdown": {"content": "**日报** <@wmZhang>"}},
    )
    make_message(group, text="没有提到谁")
    assert "@张伟" in _timeline(operator_client.get(history_url).content.decode())

    # The contact sync writes the conversation, never the messages that mention it.
    Conversation.objects.filter(bot=bot, conversation_id="wmZhang").update(name="张伟华")

    renamed = operator_client.get(history_url)
    timeline = _timeline(renamed.content.decode())
    assert timeline.count('title="wmZhang">@张伟华</span>') == 3  # text, its list, markdown
    assert "@张伟<" not in timeline
    # Only the bubbles that mention the renamed user are drawn again.
    assert _bubbles_drawn(renamed) == (3 if bubble_cache == "database cache" else 2)
    again = operator_client.get(history_url)
    assert _bubbles_drawn(again) == (2 if bubble_cache == "database cache" else 0)
    assert _timeline(again.content.decode()) == timeline


def test_a_sender_who_came_without_a_name_is_named_after_the_bots_synced_contact(
    bubble_cache, operator_client, bot, other_bot, group, history_url, make_message,
    make_conversation,
):  # fmt: skip
    """A callback may give only `sender`: the bubble names the contact a sync knows, with
    the ID as its title, and a contact renamed later shows its new name in kept bubbles."""
    make_conversation(bot, "wmDemoUser0002", kind="user", name="李娜")
    make_conversation(bot, "wmZhang", kind="user", name="张伟（同步）")
    make_conversation(other_bot, "wmStranger", kind="user", name="别的机器人的联系人")
    make_message(group, text="订单什么时候发货？", sender_id="wmDemoUser0002")
    make_message(group, text="我自己报了名字", sender_id="wmZhang", sender_name="张伟")
    make_message(group, text="没同步过的人", sender_id="wmStranger")
    make_message(group, text="谁也不是")

    timeline = _timeline(operator_client.get(history_url).content.decode())

    senders = re.findall(r'<span class="sender"[^>]*>[^<]*</span>', timeline)
    assert senders == [
        '<span class="sender" title="wmDemoUser0002">李娜</span>',
        '<span class="sender">张伟</span>',  # the name it came with wins
        '<span class="sender">wmStranger</span>',  # another bot's contact is not this one's
        '<span class="sender">未知发送者</span>',
    ]

    Conversation.objects.filter(bot=bot, conversation_id="wmDemoUser0002").update(name="李娜娜")
    renamed = _timeline(operator_client.get(history_url).content.decode())
    assert '<span class="sender" title="wmDemoUser0002">李娜娜</span>' in renamed


def test_naming_senders_and_mentioned_users_costs_one_query_for_the_page(
    operator_client, bot, group, history_url, make_message, make_conversation
):
    for i in range(60):
        make_conversation(bot, f"wmUser{i}", kind="user", name=f"用户{i}")
    named = [make_message(group, text=f"m{i}", sender_id=f"wmUser{i}", sender_name=f"用户{i}")
             for i in range(60)]  # fmt: skip
    operator_client.get(history_url)  # the session is in the cache from now on
    with_names = len(get_counting_queries(operator_client, history_url))
    content = "请 <@wmUser1> 看一下"
    for i in range(60):
        make_message(
            group,
            text=content,
            body={"msgtype": "text", "text": {"content": content}},
            sender_id=f"wmUser{i}",
        )

    queries = get_counting_queries(operator_client, history_url)
    older = get_counting_queries(operator_client, history_url + f"?before={named[-1].pk}")

    assert len(queries) == len(older) + 1 == with_names + 1, [q["sql"] for q in queries]
    timeline = _timeline(queries.response.content.decode())
    assert timeline.count('title="wmUser59">用户59</span>') == 1 and "@用户1" in timeline


def test_javascript_urls_never_become_links(operator_client, group, history_url, make_message):
    make_message(
        group,
        msgtype="link",
        body={"msgtype": "link", "link": {"title": "t", "url": "javascript:alert(1)"}},
    )
    assert 'href="javascript:' not in operator_client.get(history_url).content.decode()


def test_a_link_written_without_a_scheme_opens_http_from_the_timeline(
    client, operator_client, bot, group, history_url, make_message
):
    """WeCom's robot opens `"url": "www.qq.com"`; the console links to http:// + it."""
    news = {"articles": [{"title": "中秋节礼品领取", "url": "www.qq.com"}]}
    for body in (
        {"msgtype": "link", "link": {"title": "周报", "url": "work.example.com/r?a=1&b=2"}},
        {"msgtype": "news", "news": news},
    ):
        answer = client.post(
            f"/api/send?secret={bot.secret}&conversation_id=wrGroup1",
            body,
            content_type="application/json",
        )
        assert answer.json()["errcode"] == 0
    # Stored from elsewhere (an agent's inbound link): a bare picture is never loaded.
    make_message(
        group,
        msgtype="link",
        body={"msgtype": "link", "link": {"title": "t", "url": "x.example", "image_url": "y.example/p.png"}},
    )  # fmt: skip

    page = operator_client.get(history_url).content.decode()

    assert 'href="http://work.example.com/r?a=1&amp;b=2"' in page
    assert 'href="http://www.qq.com"' in page
    assert 'href="http://x.example"' in page
    assert 'src="y.example' not in page and 'src="http://y.example' not in page


def test_outbound_messages_show_status_and_their_attempts_on_click(
    operator_client, group, history_url, make_message, make_attempt
):
    message = make_message(
        group,
        direction="out",
        text="发货了",
        status=Message.Status.QUEUED,
        attempt_count=1,
        last_error="agent unreachable",
    )
    make_attempt(message, outcome="retry", http_status=503, duration_ms=42, response_text="busy")
    trace_url = f"{history_url}messages/{message.pk}/trace"

    page = operator_client.get(history_url).content.decode()
    fragment = operator_client.get(trace_url, HTTP_HX_REQUEST="true").content.decode()
    full_page = operator_client.get(trace_url).content.decode()

    assert 'data-status="queued"' in page and f'data-pending="{message.pk}"' in page
    assert f'hx-get="{trace_url}"' in page and "1 次尝试" in page
    assert "稍后重试" in fragment and "503" in fragment and "42 ms" in fragment
    assert "busy" in fragment and "agent unreachable" in fragment and "<html" not in fragment
    assert "{#" not in fragment and "{#" not in page  # no template comment leaks
    assert "<html" in full_page and "稍后重试" in full_page  # works without JavaScript too


def test_inbound_messages_show_their_receipt_on_click(
    operator_client, group, history_url, make_message
):
    message = make_message(group, text="你好", upstream_msgid="wx-123")
    fragment = operator_client.get(f"{history_url}messages/{message.pk}/trace").content.decode()
    assert "企业微信消息 ID" in fragment and "wx-123" in fragment
    assert "WeCom" not in fragment  # the label was left in English


def test_a_received_messages_details_page_names_its_sender_as_the_timeline_does(
    operator_client, bot, group, history_url, make_message, make_conversation
):
    make_conversation(bot, "wmDemoUser0002", kind="user", name="李娜")
    unnamed = make_message(group, text="订单什么时候发货？", sender_id="wmDemoUser0002")
    named = make_message(group, text="我是张伟", sender_id="wmZhang", sender_name="张伟")

    details = operator_client.get(f"{history_url}messages/{unnamed.pk}/trace").content.decode()
    other = operator_client.get(f"{history_url}messages/{named.pk}/trace").content.decode()

    sender = '<p class="trace-sender">发送者 <strong>{}</strong> <span class="muted mono">{}</span>'
    assert sender.format("李娜", "wmDemoUser0002") in details
    assert sender.format("张伟", "wmZhang") in other


def test_a_message_trace_is_only_reachable_under_its_own_conversation(
    operator_client, bot, group, make_conversation, make_message
):
    elsewhere = make_message(make_conversation(bot, "wrElse"), direction="out")
    url = reverse("console:message_trace", args=[bot.pk, group.pk, elsewhere.pk])
    assert operator_client.get(url).status_code == 404


def test_jump_to_a_message_shows_the_page_around_it_highlighted(
    operator_client, group, history_url, make_message
):
    made = [make_message(group, text=f"m{i}") for i in range(200)]
    target = made[100]
    response = operator_client.get(history_url + f"?at={target.pk}")
    ids = shown_ids(response)
    assert target.pk in ids and len(ids) == 50
    assert ids[0] < target.pk < ids[-1]
    assert f'id="m{target.pk}" class="msg in focus"' in response.content.decode()


def test_jump_to_a_message_that_is_gone_says_so_and_shows_the_latest_page(
    operator_client, group, history_url, make_message
):
    made = [make_message(group, text=f"m{i}") for i in range(80)]
    deleted = made[0].pk
    made[0].delete()  # as the nightly retention does

    for missing in (deleted, made[-1].pk + 1000):
        response = operator_client.get(history_url + f"?at={missing}")
        html = response.content.decode()
        assert response.status_code == 200
        assert shown_ids(response) == [m.pk for m in made[-50:]]
        assert 'id="missing-message"' in html and f"消息 {missing} 不在此会话中" in html
        assert "从未在此存在。以下是最新的消息。" in html
        assert 'class="msg in focus"' not in html

    operator_client.cookies["django_language"] = "en"
    english = operator_client.get(history_url + f"?at={deleted}").content.decode()
    assert f"Message {deleted} is not in this conversation" in english
    assert "Showing the latest messages." in english
    shown = operator_client.get(history_url + f"?at={made[10].pk}").content.decode()
    assert 'id="missing-message"' not in shown


def test_jump_to_date_starts_at_that_days_first_message(
    operator_client, group, history_url, make_message
):
    now = timezone.now()
    for days_ago in (10, 5, 5, 1):
        make_message(
            group, text=f"{days_ago} days ago", created_at=now - dt.timedelta(days=days_ago)
        )
    day = timezone.localtime(now - dt.timedelta(days=5)).date()

    response = operator_client.get(history_url + f"?date={day.isoformat()}")

    texts = re.findall(r'<div class="text">(.*?)</div>', response.content.decode())
    assert texts == ["5 days ago", "5 days ago", "1 days ago"]
    assert 'id="older"' in response.content.decode()


def test_an_invalid_date_says_so(operator_client, history_url):
    html = operator_client.get(history_url + "?date=not-a-date").content.decode()
    assert "请输入有效的日期" in html


def test_reply_box_queues_a_console_text_from_the_operator(
    operator_client, operator, group, history_url
):
    url = reverse("console:reply", args=[group.bot.pk, group.pk])
    response = operator_client.post(url, {"content": "您好,已处理\n谢谢"}, follow=True)

    message = Message.objects.get(direction="out")
    assert message.body == {"msgtype": "text", "text": {"content": "您好,已处理\n谢谢"}}
    assert message.source == "console" and message.created_by == operator
    assert message.conversation == group
    assert response.redirect_chain[-1][0] == history_url
    assert "回复已进入发送队列" in response.content.decode()
    bubble = response.content.decode().split(f'id="m{message.pk}"')[1].split("</article>")[0]
    assert "控制台 · alice" in bubble  # who sent it from the console


def test_reply_refused_by_the_send_path_shows_its_errmsg(operator_client, bot, group):
    bot.is_active = False
    bot.save()
    url = reverse("console:reply", args=[bot.pk, group.pk])

    response = operator_client.post(url, {"content": "hello"})

    assert response.status_code == 400
    assert "未发送：bot is inactive" in response.content.decode()
    assert not Message.objects.exists()


def test_empty_reply_is_refused_with_help(operator_client, bot, group):
    response = operator_client.post(
        reverse("console:reply", args=[bot.pk, group.pk]), {"content": "  "}
    )
    assert response.status_code == 400
    assert "请先输入内容" in response.content.decode()


def test_a_reply_posted_through_htmx_is_answered_without_leaving_the_history(
    operator_client, bot, group, history_url
):
    url = reverse("console:reply", args=[bot.pk, group.pk])

    blank = operator_client.post(url, {"content": " \r\n "}, HTTP_HX_REQUEST="true")
    queued = operator_client.post(url, {"content": "好的"}, HTTP_HX_REQUEST="true")

    # The refusal is only the words for the box's error place, not a page at /reply.
    assert blank.status_code == 200 and "<html" not in blank.content.decode()
    assert "请先输入内容" in blank.content.decode()
    assert queued.status_code == 200 and queued["HX-Redirect"] == history_url
    assert Message.objects.get().body["text"]["content"] == "好的"
    page = operator_client.get(history_url).content.decode()
    assert "回复已进入发送队列" in page
    assert 'hx-post="' + url + '"' in page and 'hx-target="#reply-errors"' in page


def test_updates_bring_new_messages_and_fresh_states_of_pending_ones(
    operator_client, bot, group, make_message
):
    pending = make_message(group, direction="out", text="等待", status=Message.Status.QUEUED)
    url = reverse("console:history_updates", args=[bot.pk, group.pk])
    Message.objects.filter(pk=pending.pk).update(status=Message.Status.SENT)
    new = make_message(group, text="新消息")

    html = operator_client.get(url + f"?after={pending.pk}&pending={pending.pk}").content.decode()

    assert f'id="m{new.pk}"' in html and "新消息" in html
    assert f'id="m{pending.pk}"' in html and 'hx-swap-oob="true"' in html
    assert 'data-status="sent"' in html
    assert f"after={new.pk}" in html


def test_an_inbound_message_shows_its_forwarding_attempts_to_the_webhook(
    operator_client, bot, group, history_url
):
    from devtools.receiver import Receiver
    from messaging.models import Message as MessageModel
    from tests.messaging.support import callback_body, forward_due

    with Receiver() as receiver:
        bot.webhook_url = receiver.url("/hook")
        bot.save()
        receiver.script([500, 200])
        body = callback_body("text", bot, conversation_id=group.conversation_id)
        assert (
            operator_client.post("/api/callback", body, content_type="application/json").json()[
                "errcode"
            ]
            == 0
        )
        message = MessageModel.objects.get(direction="in", conversation=group)
        waiting = operator_client.get(f"{history_url}messages/{message.pk}/trace").content
        assert "等待转发" in waiting.decode()  # stored; no worker has fanned it out yet
        forward_due()  # the first try meets the 500
    fragment = operator_client.get(
        f"{history_url}messages/{message.pk}/trace", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert receiver.url("/hook") in fragment
    assert "500" in fragment and "下次尝试" in fragment


def test_an_inbound_message_of_a_bot_without_webhook_says_it_was_not_forwarded(
    operator_client, group, history_url, make_message
):
    message = make_message(group, text="你好")
    fragment = operator_client.get(f"{history_url}messages/{message.pk}/trace").content.decode()
    assert "未转发" in fragment


def test_pages_continue_by_id_on_either_side_and_only_for_the_bots_operators(
    group, operator, make_message, make_operator, make_bot
):
    from console import history

    made = [make_message(group, text=f"m{i}") for i in range(60)]
    middle = made[30].pk
    ids = [m.pk for m in made]

    for kwargs, shown, sides in [
        ({}, ids[10:], (True, False)),
        ({"before": middle}, ids[:30], (False, True)),
        ({"after": middle}, ids[31:], (True, False)),
        ({"before": 2**70}, ids[10:], (True, True)),
    ]:
        conversation, page = history.visible_page(operator, group.bot_id, group.pk, **kwargs)

        assert conversation == group and conversation.bot == group.bot
        assert [m.pk for m in page.messages] == shown
        assert (page.has_older, page.has_newer) == sides
    assert history.visible_page(operator, group.bot_id + 1, group.pk) is None
    stranger = make_operator("stranger", make_bot())
    assert history.visible_page(stranger, group.bot_id, group.pk) is None
    assert [m.pk for m in history.pending_in(group, [made[1].pk, 10**9])] == [made[1].pk]


def test_flash_messages_show_on_the_history_page(operator_client, bot, group):
    url = reverse("console:history", args=[bot.pk, group.pk])

    response = operator_client.post(
        reverse("console:reply", args=[bot.pk, group.pk]), {"content": "好的"}, follow=True
    )

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == url
    assert re.search(r'<ul class="flash"><li class="success">[^<]+</li></ul>', html)
    # Shown once: the next view has no flash.
    assert 'class="flash"' not in operator_client.get(url).content.decode()


def test_every_form_of_the_history_page_carries_a_working_csrf_token(operator, bot, group):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    url = reverse("console:history", args=[bot.pk, group.pk])
    html = client.get(url).content.decode()
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert len(tokens) == 3  # language switch, log out, reply

    refused = client.post(reverse("console:reply", args=[bot.pk, group.pk]), {"content": "x"})
    accepted = client.post(
        reverse("console:reply", args=[bot.pk, group.pk]),
        {"content": "好的", "csrfmiddlewaretoken": tokens[-1]},
    )
    switched = client.post(
        reverse("set_language"), {"language": "en", "next": url, "csrfmiddlewaretoken": tokens[0]}
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302 and accepted["Location"] == url
    assert switched.status_code == 302 and client.get(url).headers["Content-Language"] == "en"


@pytest.mark.parametrize(
    ("days_ago", "says", "first_shown"),
    [
        (20, "之后的第一批消息", "10 days ago"),  # before the first message
        (3, "之后的第一批消息", "1 days ago"),  # a quiet day in between
        (-2, "最新的消息", "10 days ago"),  # after the last message
    ],
)
def test_jump_to_a_date_without_messages_says_so(
    operator_client, group, history_url, make_message, days_ago, says, first_shown
):
    now = timezone.now()
    for ago in (10, 5, 1):
        make_message(group, text=f"{ago} days ago", created_at=now - dt.timedelta(days=ago))
    day = timezone.localtime(now - dt.timedelta(days=days_ago)).date()

    html = operator_client.get(history_url + f"?date={day.isoformat()}").content.decode()

    # One sentence after the other, as Chinese sets them: no space after the "。".
    assert f"{day.isoformat()} 没有消息。以下是" in html and says in html
    assert re.findall(r'<div class="text">(.*?)</div>', html)[0] == first_shown


def test_jump_to_a_date_with_messages_says_nothing_more(
    operator_client, group, history_url, make_message
):
    message = make_message(group, text="今天")
    day = timezone.localdate(message.created_at)
    html = operator_client.get(history_url + f"?date={day.isoformat()}").content.decode()
    assert 'id="empty-day"' not in html


def _dividers(html: str) -> list[str]:
    return re.findall(r'<div class="day-divider" id="day-([\d-]+)">', html)


def test_a_live_update_on_the_same_day_adds_no_second_day_divider(
    operator_client, group, history_url, make_message
):
    now = timezone.now()
    yesterday = make_message(group, text="昨天", created_at=now - dt.timedelta(days=1))
    shown = make_message(group, text="今天早些")
    page = operator_client.get(history_url).content.decode()
    today = timezone.localdate(now).isoformat()
    assert _dividers(page)[-1] == today

    make_message(group, text="刚刚")
    same_day = operator_client.get(f"{history_url}updates?after={shown.pk}").content.decode()
    from_yesterday = operator_client.get(
        f"{history_url}updates?after={yesterday.pk}"
    ).content.decode()

    assert "刚刚" in same_day and _dividers(same_day) == []
    assert _dividers(from_yesterday) == [today]


def test_an_older_page_ending_on_the_top_day_moves_that_days_divider_up(
    operator_client, group, history_url, make_message
):
    made = [make_message(group, text=f"m{i}") for i in range(60)]
    page = operator_client.get(history_url).content.decode()
    today = timezone.localdate(made[0].created_at).isoformat()
    assert _dividers(page) == [today]

    older = operator_client.get(
        f"{history_url}?before={shown_ids_first(page)}", HTTP_HX_REQUEST="true"
    ).content.decode()

    assert _dividers(older) == [today]
    assert f'<div id="day-{today}" hx-swap-oob="delete"></div>' in older


def shown_ids_first(html: str) -> int:
    return int(re.search(r'<article id="m(\d+)"', html).group(1))


def test_mentions_by_id_show_the_users_name_and_keep_their_brackets_out_of_the_highlight(
    operator_client, bot, group, history_url, make_message, make_conversation
):
    make_conversation(bot, "wmZhang", kind="user", name="张伟")
    make_message(
        group,
        text="请 <@wmZhang> 和 <@wmNobody> 看一下 a>b",
        body={
            "msgtype": "text",
            "text": {
                "content": "请 <@wmZhang> 和 <@wmNobody> 看一下 a>b",
                "mentioned_list": ["wmZhang", "@all"],
            },
        },
    )

    html = operator_client.get(history_url).content.decode()

    text = re.search(r'<div class="text">(.*?)</div>', html).group(1)
    assert text == (
        '请 <span class="mention" title="wmZhang">@张伟</span> 和 '
        '<span class="mention" title="wmNobody">@wmNobody</span> 看一下 a&gt;b'
    )
    mentions = re.search(r'<div class="mentions">(.*?)</div>', html).group(1)
    assert "@张伟" in mentions and "@所有人" in mentions and "wmZhang</span>" not in mentions


def test_the_reply_box_takes_the_connectors_limit_in_bytes(
    operator_client, bot, group, history_url, make_bot, make_conversation
):
    url = reverse("console:reply", args=[bot.pk, group.pk])
    page = operator_client.get(history_url).content.decode()
    assert 'data-max-bytes="16384"' in page and "maxlength" not in page  # a bridge bot

    long_ascii = "a" * 6000  # past the old 5,000-character cut, within 16,384 bytes
    assert operator_client.post(url, {"content": long_ascii}).status_code == 302
    too_long = "退" * 6000  # 18,000 bytes

    response = operator_client.post(url, {"content": too_long})

    assert response.status_code == 400
    html = response.content.decode()
    assert "太长了：18000 字节" in html and "最多 16384" in html
    assert Message.objects.get().body["text"]["content"] == long_ascii
    assert too_long in html  # kept in the box, not cut


def test_a_wecom_robot_bots_reply_box_takes_its_2048_bytes(
    operator_client, operator, make_bot, make_conversation
):
    robot = make_bot(name="robot", connector="wecom_robot")
    robot.operators.add(operator)
    chat = make_conversation(robot, "wrRobot")
    page = operator_client.get(reverse("console:history", args=[robot.pk, chat.pk]))
    assert 'data-max-bytes="2048"' in page.content.decode()


def test_a_scheduled_api_message_is_marked_scheduled_with_its_send_time(
    operator_client, group, history_url, make_message
):
    at = timezone.now() + dt.timedelta(hours=2)
    waiting = make_message(
        group, direction="out", text="稍后发", status="scheduled", scheduled_at=at
    )
    sent = make_message(
        group, direction="out", text="已按时发", status="sent", scheduled_at=at, sent_at=at
    )
    make_message(group, direction="out", text="普通", status="sent")

    html = operator_client.get(history_url).content.decode()

    local = timezone.localtime(at).strftime("%m-%d %H:%M")
    bubble = lambda m: html.split(f'id="m{m.pk}"')[1].split("</article>")[0]  # noqa: E731
    assert f"定时发送，计划于 {local}" in bubble(waiting)
    assert f"定时发送 · 已于 {local} 发出" in bubble(sent)
    assert html.count("scheduled-mark") == 2


def test_a_message_scheduled_for_another_year_shows_the_year_in_its_badge_and_trace(
    operator_client, operator, group, history_url, make_message
):
    """On 2026-12-05, "计划于 01-05 09:00" read as a date a month past."""
    import time_machine

    shanghai = dt.timezone(dt.timedelta(hours=8))
    next_year = dt.datetime(2027, 1, 5, 9, 0, tzinfo=shanghai)
    this_year = dt.datetime(2026, 12, 24, 9, 0, tzinfo=shanghai)
    bubble = lambda html, m: html.split(f'id="m{m.pk}"')[1].split("</article>")[0]  # noqa: E731
    with time_machine.travel(dt.datetime(2026, 12, 5, 10, 0, tzinfo=shanghai), tick=False):
        later = make_message(
            group, direction="out", text="明年见", status="scheduled", scheduled_at=next_year
        )
        soon = make_message(
            group, direction="out", text="圣诞", status="scheduled", scheduled_at=this_year
        )
        html = operator_client.get(history_url).content.decode()
        trace = operator_client.get(f"{history_url}messages/{later.pk}/trace").content.decode()

    assert "定时发送，计划于 2027-01-05 09:00" in bubble(html, later)
    assert "定时发送，计划于 12-24 09:00" in bubble(html, soon)
    assert "计划于 2027-01-05 09:00 发送" in trace
    with time_machine.travel(dt.datetime(2027, 1, 2, 10, 0, tzinfo=shanghai), tick=False):
        operator_client.force_login(operator)  # a month later: the session has expired
        html = operator_client.get(history_url).content.decode()
    assert "定时发送，计划于 01-05 09:00" in bubble(html, later)
    assert "定时发送，计划于 2026-12-24 09:00" in bubble(html, soon)


def test_a_scheduled_messages_times_read_as_the_consoles_other_times(
    bubble_cache, operator_client, operator, group, history_url, make_message
):
    """ "Scheduled for" in its details and the badge's "Created …" title say their times
    through clock_time ("10:00" today, "昨天 10:00" the next day, then its date), not always
    with the date; a bubble kept in the cache says the day too once its day has gone by."""
    import time_machine

    shanghai = dt.timezone(dt.timedelta(hours=8))
    made = dt.datetime(2026, 12, 5, 10, 0, 7, tzinfo=shanghai)
    bubble = lambda html, m: html.split(f'id="m{m.pk}"')[1].split("</article>")[0]  # noqa: E731
    with time_machine.travel(made, tick=False):
        message = make_message(
            group,
            direction="out",
            text="稍后",
            status="scheduled",
            scheduled_at=made + dt.timedelta(hours=3),
        )
    trace_url = f"{history_url}messages/{message.pk}/trace"
    with time_machine.travel(made + dt.timedelta(minutes=30), tick=False):
        html = operator_client.get(history_url).content.decode()
        trace = operator_client.get(trace_url).content.decode()
    assert 'title="10:00:07 通过 API 创建，定时发送"' in bubble(html, message)
    assert "计划于 13:00 发送" in trace
    with time_machine.travel(made + dt.timedelta(hours=2), tick=False):
        html = operator_client.get(history_url).content.decode()
    assert 'title="10:00 通过 API 创建，定时发送"' in bubble(html, message)
    for days_later, day in [(1, "昨天"), (2, "12-05")]:
        with time_machine.travel(made + dt.timedelta(days=days_later), tick=False):
            operator_client.force_login(operator)
            html = operator_client.get(history_url).content.decode()
            trace = operator_client.get(trace_url).content.decode()
        assert f'title="{day} 10:00 通过 API 创建，定时发送"' in bubble(html, message)
        assert f"计划于 {day} 13:00 发送" in trace


def release_due():
    from messaging.scheduled import release_due_messages

    return release_due_messages()


def test_a_scheduled_message_stands_where_it_was_released_not_where_it_was_made(
    operator_client, bot, group, history_url, make_message
):
    before = make_message(group, text="之前")
    scheduled = make_message(
        group,
        direction="out",
        text="定时",
        status="scheduled",
        scheduled_at=timezone.now() - dt.timedelta(seconds=1),
    )
    meanwhile = make_message(group, text="期间")
    assert shown_ids(operator_client.get(history_url)) == [before.pk, scheduled.pk, meanwhile.pk]

    assert release_due() == 1
    after = make_message(group, text="之后")

    html = operator_client.get(history_url)
    assert shown_ids(html) == [before.pk, meanwhile.pk, scheduled.pk, after.pk]
    scheduled.refresh_from_db()
    assert meanwhile.pk < scheduled.timeline_position < after.pk
    bubble = html.content.decode().split(f'id="m{scheduled.pk}"')[1].split("</article>")[0]
    assert "定时发送" in bubble  # still marked scheduled
    shown_at = timezone.localtime(scheduled.scheduled_at).strftime("%H:%M")
    assert f">{shown_at}</time>" in bubble  # its time is when it went out


def test_keyset_pages_hold_a_moved_message_once_across_the_page_boundary(
    operator_client, bot, group, history_url, make_message
):
    scheduled = make_message(
        group,
        direction="out",
        text="定时",
        status="scheduled",
        scheduled_at=timezone.now() - dt.timedelta(seconds=1),
    )
    made = [make_message(group, text=f"m{i}") for i in range(70)]
    release_due()
    made.append(make_message(group, text="最后"))

    latest = operator_client.get(history_url)
    older = operator_client.get(
        history_url + f"?before={latest.context['page'].oldest_key}", HTTP_HX_REQUEST="true"
    )
    newer = operator_client.get(history_url + f"?after={older.context['page'].newest_key}")

    assert shown_ids(latest) == [m.pk for m in made[22:70]] + [scheduled.pk, made[70].pk]
    assert shown_ids(older) == [m.pk for m in made[:22]]
    assert shown_ids(newer) == shown_ids(latest)
    jump = operator_client.get(history_url + f"?at={scheduled.pk}")
    assert jump.context["page"].focus_id == scheduled.pk
    assert scheduled.pk in shown_ids(jump) and shown_ids(jump)[-1] == made[70].pk


def test_an_open_timeline_moves_a_released_message_to_the_end(
    operator_client, bot, group, make_message
):
    scheduled = make_message(
        group,
        direction="out",
        text="定时",
        status="scheduled",
        scheduled_at=timezone.now() - dt.timedelta(seconds=1),
    )
    newest = make_message(group, text="最新")
    url = reverse("console:history_updates", args=[bot.pk, group.pk])
    release_due()

    html = operator_client.get(url + f"?after={newest.pk}&pending={scheduled.pk}").content.decode()

    assert f'<div id="m{scheduled.pk}" hx-swap-oob="delete"></div>' in html
    assert (
        f'<article id="m{scheduled.pk}" class="msg out" data-pending=' in html
    )  # drawn anew at the end
    scheduled.refresh_from_db()
    assert f"after={scheduled.timeline_position}" in html


def test_a_reply_typed_over_lines_is_stored_and_counted_with_the_line_breaks_the_api_stores(
    operator_client, operator, make_bot, make_conversation
):
    """Browsers post a textarea's line breaks as \\r\\n: stored so, each counted 2 bytes."""
    robot = make_bot(name="robot", connector="wecom_robot")
    robot.operators.add(operator)
    chat = make_conversation(robot, "wrRobot")
    url = reverse("console:reply", args=[robot.pk, chat.pk])
    lines = "\r\n".join(["a" * 9] * 200)  # 2198 bytes as posted, 1999 with \n

    response = operator_client.post(url, {"content": lines})

    assert response.status_code == 302
    content = Message.objects.get().body["text"]["content"]
    assert "\r" not in content and content == "\n".join(["a" * 9] * 200)
