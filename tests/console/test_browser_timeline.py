"""The timeline's day dividers in a real browser: one per day, after scrolling back and
after live updates. Screenshots land in test-artifacts/console/."""

from tests.browser import needs_chromium

from .browser import log_in, open_conversation, shoot

pytestmark = needs_chromium


def test_one_day_divider_per_day_after_scrolling_back_and_live_updates(page, demo):
    from playwright.sync_api import expect

    bot, group = demo  # 70 messages of today: two pages
    log_in(page)
    open_conversation(page, group.name)
    dividers = page.locator("#timeline .day-divider")
    expect(dividers).to_have_count(1)

    scroll_back_to_the_first(page, page.get_by_text("第 0 条历史消息"))
    expect(dividers).to_have_count(1)
    # The divider heads the day: nothing of that day above it.
    assert page.locator("#timeline .day-divider + article").first.inner_text().find("第 0 条") >= 0

    from messaging.models import Message

    Message.objects.create(
        bot=bot,
        conversation=group,
        direction="in",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "实时到达的新消息"}},
        search_text="实时到达的新消息",
        sender_name="李娜",
        status="received",
        source="agent",
    )
    expect(page.get_by_text("实时到达的新消息")).to_be_visible()
    expect(dividers).to_have_count(1)
    shoot(page, "timeline-one-divider")


def scroll_back_to_the_first(page, first) -> None:
    """Jump the timeline to its top until the older page holding `first` has loaded. One
    jump can be undone: a poll settling before the jump's scroll event still sees the
    timeline stuck to the bottom and scrolls it back down (history.js), and the older
    page's trigger fires once, when it is seen. A reader scrolls again; so does this."""
    from playwright.sync_api import expect

    for _ in range(5):
        page.locator("#timeline").evaluate("el => el.scrollTop = 0")
        try:
            expect(first).to_be_visible(timeout=3000)
            return
        except AssertionError:
            continue
    expect(first).to_be_visible()


def test_thumbnails_that_fail_to_load_become_neutral_placeholders(page, demo):
    """An archived image the browser cannot draw (its bytes start like a PNG, and no
    thumbnail could be made of them) is a grey box, not a broken-image icon."""
    from playwright.sync_api import expect

    from media import store
    from messaging.models import Message, MessageMedia

    bot, group = demo
    message = Message.objects.create(
        bot=bot,
        conversation=group,
        direction="in",
        msgtype="image",
        body={"msgtype": "image", "image": {"cdn_type": "wecom_cdn", "cdn": "x/broken"}},
        sender_name="张伟",
        status="received",
        source="agent",
    )
    stored = store.store_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert stored.is_image
    MessageMedia.objects.create(message=message, kind="image", status="stored", stored_file=stored)
    log_in(page)
    open_conversation(page, group.name)

    expect(page.locator(f"#m{message.pk} .thumb-missing.chat-image")).to_have_count(1)
    broken = page.locator("#timeline img").evaluate_all(
        "imgs => imgs.filter(i => i.complete && i.naturalWidth === 0).length"
    )
    assert broken == 0
    shoot(page, "timeline-thumbnail-placeholders")


def test_the_reply_box_counts_down_and_refuses_visibly_past_the_limit(page, demo):
    from playwright.sync_api import expect

    bot, group = demo  # a bridge bot: 16,384 bytes of text
    log_in(page)
    open_conversation(page, group.name)
    box, count = page.get_by_placeholder("输入回复内容…"), page.locator("#reply-count")
    send = page.get_by_role("button", name="发送")
    expect(count).to_have_text("16384 字节可用")

    box.fill("退" * 6000)  # pasted: 18,000 bytes, kept whole
    expect(count).to_have_text("1616 字节超出：请缩短回复（一个汉字占 3 字节）")
    expect(send).to_be_disabled()
    assert len(box.input_value()) == 6000
    shoot(page, "reply-too-long")

    box.fill("退" * 5000)
    expect(count).to_have_text("1384 字节可用")
    expect(send).to_be_enabled()


def test_the_compose_estimate_says_seconds_for_a_short_run(page, demo):
    from playwright.sync_api import expect

    bot, _group = demo
    bot.rate_limit_per_minute = 20
    bot.save()
    log_in(page)
    page.goto("/console/announcements/new/")
    boxes = page.locator("#audience input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    expect(page.locator("#estimate")).to_have_text("2 个接收者，每分钟 20 条：约 6 秒。")


def test_a_released_scheduled_message_moves_to_the_end_of_an_open_timeline(
    page, demo, make_message
):
    import datetime as dt

    from django.utils import timezone
    from playwright.sync_api import expect

    from messaging.models import Message
    from messaging.scheduled import release_due_messages

    bot, group = demo
    later = timezone.now() + dt.timedelta(hours=1)
    reminder = make_message(
        group, direction="out", text="定时的提醒", status="scheduled", scheduled_at=later
    )
    make_message(group, text="之后到达", sender_name="李娜")
    log_in(page)
    open_conversation(page, group.name)
    bubbles = page.locator("#timeline article.msg")
    expect(bubbles.last).to_contain_text("之后到达")

    Message.objects.filter(pk=reminder.pk).update(scheduled_at=timezone.now())
    assert release_due_messages() == 1

    expect(bubbles.last).to_contain_text("定时的提醒")  # taken to the end by the poll
    expect(page.get_by_text("定时的提醒")).to_have_count(1)  # and gone from its old place
    shoot(page, "timeline-scheduled-moved")
