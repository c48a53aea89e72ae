"""The console in a real browser: headless Debian Chromium driven by Playwright.

Screenshots of every page land in test-artifacts/console/ (git-ignored).
"""

import re

from django.urls import reverse

from conversations.models import Bot
from messaging.models import Message
from tests.browser import needs_chromium

from .browser import log_in, open_conversation, shoot

pytestmark = needs_chromium


def test_operator_reads_replies_searches_and_switches_language(page, demo):
    from playwright.sync_api import expect

    bot, group = demo
    log_in(page)
    expect(page.get_by_role("heading", name=re.compile("demo"))).to_be_visible()
    shoot(page, "02-conversations")

    open_conversation(page, "客户服务群")
    expect(page.locator("#timeline .msg").last).to_contain_text("第 69 条历史消息")
    shoot(page, "03-history")

    # Scrolling to the top loads the older page (keyset, through htmx).
    page.locator("#timeline").evaluate("el => el.scrollTop = 0")
    expect(page.get_by_text("第 0 条历史消息")).to_be_visible()
    expect(page.get_by_text("会话的开始")).to_be_visible()

    # A message recorded while the page is open appears without a reload.
    Message.objects.create(
        bot=bot,
        conversation=group,
        direction="in",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "我的退款什么时候到?"}},
        search_text="我的退款什么时候到?",
        sender_name="李娜",
        status="received",
        source="agent",
    )
    expect(page.get_by_text("我的退款什么时候到?")).to_be_visible()

    # Reply from the reply box.
    page.get_by_placeholder("输入回复内容…").fill("您好,退款已在处理中\n预计明天到账")
    page.get_by_role("button", name="发送").click()
    expect(page.get_by_text("回复已进入发送队列。")).to_be_visible()
    reply = page.locator("#timeline .msg.out").last
    expect(reply).to_contain_text("预计明天到账")
    expect(reply.locator("[data-status]")).to_have_attribute("data-status", "queued")

    # When the delivery worker records the outcome, the open page refreshes it in place.
    sent = Message.objects.get(direction="out")
    assert sent.source == "console" and sent.created_by.username == "admin"
    Message.objects.filter(pk=sent.pk).update(status="sent")
    expect(reply.locator("[data-status]")).to_have_attribute("data-status", "sent")
    shoot(page, "04-history-replied")

    # Search finds the reply and links into the history at that message.
    page.get_by_role("link", name="搜索").first.click()
    page.get_by_label("关键词").fill("退款")
    page.get_by_role("button", name="搜索").click()
    expect(page.locator(".results li")).to_have_count(2)
    shoot(page, "05-search")
    page.locator(".results a", has_text="预计明天到账").click()
    expect(page.locator(f"#m{sent.pk}")).to_have_class(re.compile("focus"))

    page.get_by_role("link", name="审计日志").click()
    expect(page.locator("table.audit tbody tr")).to_have_count(1)
    shoot(page, "06-audit")

    page.get_by_role("link", name="仪表盘").click()
    expect(page.locator(".chart svg")).to_be_visible()
    shoot(page, "07-dashboard")

    # English when chosen, and back.
    page.get_by_role("group", name="语言").get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shoot(page, "08-dashboard-en")
    page.get_by_role("link", name="Conversations").click()
    open_conversation(page, "客户服务群")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    shoot(page, "09-history-en")
    page.get_by_role("group", name="Language").get_by_role("button", name="简体中文").click()
    expect(page.get_by_role("button", name="发送")).to_be_visible()


def test_empty_reply_and_refusals_are_explained_in_the_page(page, demo):
    from playwright.sync_api import expect

    bot, group = demo
    log_in(page)
    page.goto(reverse("console:history", args=[bot.pk, group.pk]))
    Bot.objects.filter(pk=bot.pk).update(is_active=False)
    page.get_by_placeholder("输入回复内容…").fill("还在吗")
    page.get_by_role("button", name="发送").click()
    expect(page.get_by_role("alert")).to_contain_text("未发送：bot is inactive")
    # Said in the page it was typed in: the address and the text stay.
    assert page.url.endswith(reverse("console:history", args=[bot.pk, group.pk]))
    expect(page.get_by_placeholder("输入回复内容…")).to_have_value("还在吗")
    shoot(page, "10-reply-refused")


def test_a_reply_of_only_spaces_is_refused_before_it_is_posted(page, demo):

    bot, group = demo
    log_in(page)
    history_url = reverse("console:history", args=[bot.pk, group.pk])
    page.goto(history_url)
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    box = page.get_by_placeholder("输入回复内容…")

    box.fill("   \n  ")
    page.get_by_role("button", name="发送").click()
    box.press("Control+Enter")

    assert box.evaluate("el => el.validationMessage") == "请先输入内容。"
    assert posts == [] and page.url.endswith(history_url)
    box.fill("  好的  ")
    assert box.evaluate("el => el.validationMessage") == ""


def test_each_msgtype_renders_like_the_chat_and_traces_open_on_click(page, demo):
    from django.utils import timezone
    from playwright.sync_api import expect

    from messaging.models import DeliveryAttempt

    bot, _group = demo
    group = bot.conversations.get(conversation_id="wrDemoGroup0001")

    def add(direction, body, **fields):
        msgtype = body["msgtype"]
        fields.setdefault("status", "received" if direction == "in" else "sent")
        fields.setdefault("source", "agent" if direction == "in" else "api")
        return Message.objects.create(
            bot=bot,
            conversation=group,
            direction=direction,
            msgtype=msgtype,
            body=body,
            search_text=str(body.get(msgtype, {}).get("content", "")),
            sender_name="王芳",
            **fields,
        )

    add("in", {"msgtype": "text", "text": {"content": "大家好\n@张伟 请看一下这个链接"}})
    add(
        "in",
        {
            "msgtype": "link",
            "link": {
                "title": "本周产品更新说明",
                "url": "https://example.com/updates",
                "desc": "新增批量发送与审计导出",
            },
        },
    )
    add(
        "in",
        {
            "msgtype": "miniprogram",
            "miniprogram": {
                "appname": "示例商城",
                "title": "您的订单详情",
                "page_path": "pages/order/detail?id=42",
            },
        },
    )
    add("in", {"msgtype": "image", "image": {"cdn_type": "wecom_cdn", "cdn": "demo/1.jpg"}})
    add("in", {"msgtype": "voice", "voice": {"seconds": 4, "cdn": "demo/1.amr"}})
    add("out", {"msgtype": "markdown", "markdown": {"content": "**发布提醒**\n> 今晚 20:00 维护"}})
    failed = add(
        "out",
        {"msgtype": "text", "text": {"content": "这条发送失败了", "mentioned_list": ["@all"]}},
        status="failed",
        attempt_count=2,
        last_error="errcode 93000: invalid webhook url",
    )
    for outcome, status in (("retry", 503), ("failed", 200)):
        DeliveryAttempt.objects.create(
            message=failed,
            started_at=timezone.now(),
            outcome=outcome,
            http_status=status,
            duration_ms=120,
            response_text='{"errcode":93000,"errmsg":"invalid webhook url"}',
        )

    log_in(page)
    page.goto(reverse("console:history", args=[bot.pk, group.pk]))
    expect(page.locator(".link-card")).to_contain_text("本周产品更新说明")
    expect(page.locator(".mini-card")).to_contain_text("示例商城")
    expect(page.locator(".raw")).to_contain_text('"seconds": 4')
    expect(page.locator(".mention").first).to_have_text("@张伟")
    bubble = page.locator(f"#m{failed.pk}")
    bubble.locator("summary").click()
    expect(bubble.locator(".trace-table tbody tr")).to_have_count(2)
    expect(bubble).to_contain_text("invalid webhook url")
    shoot(page, "11-trace-open")
    page.locator("#timeline").evaluate("el => el.scrollTop = 0")
    shoot(page, "12-msgtypes")
