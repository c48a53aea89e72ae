import datetime as dt
import re
from html import unescape

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from messaging.models import Message


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
    assert 'src="https://example.com/a.png"' in html
    assert "小商店" in html and "pages/a" in html
    assert "voice" in html and '"seconds": 3' in unescape(html)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_a_history_page_costs_the_same_few_queries_however_many_messages_it_shows(
    operator_client, group, history_url, make_message, django_assert_num_queries
):
    made = [
        make_message(group, direction="out" if i % 3 else "in", text=f"m{i}") for i in range(60)
    ]
    # The session with its user; the conversation with its bot and the page's stamps
    # (one query on PostgreSQL, two elsewhere); the messages whose bubbles were not
    # drawn yet, and when shown again, none.
    conversation_and_page = 1 if connection.vendor == "postgresql" else 2
    for url in (
        history_url + f"?after={made[5].pk}",  # 6 to 55
        history_url,  # 10 to 59
        history_url + f"?before={made[20].pk}",  # 0 to 19
    ):
        with django_assert_num_queries(1 + conversation_and_page + 1):
            first = operator_client.get(url).content.decode()
        with django_assert_num_queries(1 + conversation_and_page):
            again = operator_client.get(url).content.decode()
        assert _timeline(again) == _timeline(first) and 'id="m' in _timeline(first)


def test_a_huge_message_is_shown_every_time_without_filling_the_bubble_cache(
    operator_client, group, history_url, make_message
):
    from console import timeline

    huge = {"msgtype": "future_type", "future_type": {"blob": "数据" * 2_500_000}}
    make_message(group, msgtype="future_type", body=huge)
    make_message(group, text="小消息")

    for _ in range(2):
        html = operator_client.get(history_url).content.decode()
        assert html.count("数据") == 2_500_000 and "小消息" in html
    assert 0 < timeline._bubbles.currsize < timeline.LARGEST_CACHED_BUBBLE


def _timeline(html: str) -> str:
    return html[html.index('id="timeline"') : html.index('class="reply-box')]


def test_a_message_that_changed_is_drawn_again(
    operator_client, operator, group, history_url, make_message
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


def test_javascript_urls_never_become_links(operator_client, group, history_url, make_message):
    make_message(
        group,
        msgtype="link",
        body={"msgtype": "link", "link": {"title": "t", "url": "javascript:alert(1)"}},
    )
    assert 'href="javascript:' not in operator_client.get(history_url).content.decode()


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
    assert "wx-123" in fragment


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
    assert "未发送:bot is inactive" in response.content.decode()
    assert not Message.objects.exists()


def test_empty_reply_is_refused_with_help(operator_client, bot, group):
    response = operator_client.post(
        reverse("console:reply", args=[bot.pk, group.pk]), {"content": "  "}
    )
    assert response.status_code == 400
    assert "请先输入内容" in response.content.decode()


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
    from messaging.models import Message as MessageModel
    from tests.fakes.receiver import Receiver
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


def test_the_timelines_sql_reads_what_the_orm_reads(group, operator, make_message):
    # console/history.py reads the timeline with hand-written SQL (botadmin/rows.py):
    # every value must come back as the ORM gives it (JSON bodies, aware times).
    from console import history

    make_message(group, text="第一行\n第二行", sender_id="wmA", sender_name="张三")
    make_message(
        group,
        direction="out",
        msgtype="news",
        body={"msgtype": "news", "news": {"articles": [{"title": "标题", "url": "https://a.cn"}]}},
        status=Message.Status.FAILED,
        attempt_count=3,
        created_by=operator,
        created_at=timezone.now() - dt.timedelta(days=3, microseconds=7),
    )

    stamps = history.latest_page(group).messages
    shown = list(history.messages_by_id(group, [m.pk for m in stamps]).values())

    for stamp, message in zip(stamps, shown, strict=True):
        assert {f: getattr(message, f) for f in history.MessageStamp._fields} == {
            f: getattr(stamp, f) for f in history.MessageStamp._fields
        }
    fields = [
        f
        for f in history.TimelineMessage.__dataclass_fields__
        if f not in ("version", "created_by")
    ]
    expected = [
        {
            **{f: getattr(m, f) for f in fields},
            "created_by": m.created_by.username if m.created_by else "",
        }
        for m in Message.objects.filter(conversation=group).order_by("id")
    ]
    assert [{f: getattr(m, f) for f in [*fields, "created_by"]} for m in shown] == expected
    assert shown[1].created_by == operator.username and shown[1].created_at.tzinfo is not None
    assert [m.pk for m in history.pending_in(group, [shown[1].pk, 10**9])] == [shown[1].pk]


def test_a_page_read_with_its_conversation_has_the_stamps_read_alone(group, operator, make_message):
    # On PostgreSQL visible_page() reads the stamps as JSON beside the conversation;
    # they must equal what the timeline's own query reads (times to the microsecond).
    from console import history

    made = [
        make_message(
            group,
            direction="out" if i % 2 else "in",
            created_by=operator if i % 2 else None,
            source="console" if i % 2 else "agent",
            created_at=timezone.now() - dt.timedelta(hours=60 - i, microseconds=i),
        )
        for i in range(60)
    ]
    middle = made[30].pk

    for where, params, order, kwargs in [
        ("", [], "DESC", {}),
        ("AND m.id < %s", [middle], "DESC", {"before": middle}),
        ("AND m.id > %s", [middle], "ASC", {"after": middle}),
    ]:
        conversation, page = history.visible_page(operator, group.bot_id, group.pk, **kwargs)
        alone = history._stamps(group, where, params, order, history.PAGE_SIZE + 1)

        expected = sorted(alone[: history.PAGE_SIZE], key=lambda stamp: stamp.pk)
        assert page.messages == expected and conversation == group
        assert page.messages[0].created_at.utcoffset() == dt.timedelta(0)
        assert {stamp.created_by for stamp in page.messages} >= {operator.username, ""}
        assert (page.has_older, page.has_newer) == {
            "": (True, False),
            "before": (False, True),
            "after": (True, False),
        }[next(iter(kwargs), "")]
    assert history.visible_page(operator, group.bot_id + 1, group.pk) is None
