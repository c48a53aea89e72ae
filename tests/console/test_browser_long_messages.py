"""Long messages in a real browser: collapsed to 12 lines with a "Show all" button
(mouse and keyboard), opened by themselves at a search hit and when the keyboard reaches
a link in their hidden part, kept open across the live refresh; and a timeline that asks
no other site for a picture. Screenshots land in test-artifacts/console/."""

import re

from django.utils import timezone

from messaging.models import Message
from tests.browser import needs_chromium

from .browser import log_in, open_conversation, shoot

pytestmark = needs_chromium

PHONE = {"width": 390, "height": 844}
LONG_TEXT = "这是一条很长的消息，用来测试折叠和展开。" * 90  # 1,800 characters
FITS_WIDE = "这条消息在宽屏上只有几行，在手机上超过十二行。" * 9  # 207 characters
LONG_MARKDOWN = "\n\n".join(f"**第 {i} 段** " + "发布说明的内容。" * 30 for i in range(12)) + (
    "\n\n详见 [发布说明](https://example.com/notes)"
)
COLLAPSED_MAX = 18 * 14 + 1  # 12 lines of 14 px text, 1.5 apart


def _messages(make_message, group):
    """A 1,800-character text, a short text, a long markdown report with a link at its
    end, a news card with a picture on another site, and a 3,000-character text last."""
    made = {
        "long": make_message(group, direction="out", text=LONG_TEXT),
        "fits": make_message(group, text=FITS_WIDE, sender_name="张伟"),
        "markdown": make_message(group, direction="out", msgtype="markdown", text=LONG_MARKDOWN),
    }
    news = {"articles": [{"title": "季度报告", "url": "https://example.com/r", "picurl": "https://pics.example.net/q4.png"}]}  # fmt: skip
    make_message(group, direction="out", msgtype="news", body={"msgtype": "news", "news": news})
    made["longest"] = make_message(group, text="x" * 3000, sender_name="张伟")
    return made


def _text(page, message):
    return page.locator(f"#m{message.pk} .bubble > [data-collapsible]")


def _toggle(page, message):
    return page.locator(f"#m{message.pk} .show-all-toggle")


def test_a_long_message_is_collapsed_and_opens_with_show_all_by_mouse_or_keyboard(
    page, demo, make_message, live_server
):
    from playwright.sync_api import expect

    bot, group = demo
    made = _messages(make_message, group)
    asked = []
    page.on("request", lambda request: asked.append(request.url))
    log_in(page)
    open_conversation(page, group.name)

    text, toggle = _text(page, made["long"]), _toggle(page, made["long"])
    expect(text).to_have_class(re.compile(r"\bcollapsed\b"))
    expect(toggle).to_have_text("展开全文")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert text.bounding_box()["height"] <= COLLAPSED_MAX
    assert text.evaluate("e => e.scrollHeight") > 2 * COLLAPSED_MAX  # all of it is there
    # Fits in 12 lines at this width: as it is, without a button.
    expect(_toggle(page, made["fits"])).to_be_hidden()
    expect(_text(page, made["fits"])).not_to_have_class(re.compile(r"\bcollapsed\b"))
    expect(_text(page, made["longest"])).to_have_class(re.compile(r"\bcollapsed\b"))
    shoot(page, "long-01-collapsed-zh-1280")

    toggle.click()
    expect(text).not_to_have_class(re.compile(r"\bcollapsed\b"))
    expect(toggle).to_have_text("收起")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert text.bounding_box()["height"] > 2 * COLLAPSED_MAX
    shoot(page, "long-02-opened-zh-1280")
    toggle.click()
    expect(text).to_have_class(re.compile(r"\bcollapsed\b"))

    # The keyboard: the button takes Enter and Space.
    markdown, markdown_toggle = _text(page, made["markdown"]), _toggle(page, made["markdown"])
    expect(markdown).to_have_class(re.compile(r"\bcollapsed\b"))
    markdown_toggle.focus()
    page.keyboard.press("Enter")
    expect(markdown_toggle).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Space")
    expect(markdown_toggle).to_have_attribute("aria-expanded", "false")

    # Tabbing to the link in its hidden part opens the message, the link in view.
    link = markdown.get_by_role("link", name="发布说明")
    link.focus()
    expect(markdown).not_to_have_class(re.compile(r"\bcollapsed\b"))
    expect(markdown_toggle).to_have_text("收起")
    expect(link).to_be_in_viewport()

    # The news card names its picture's host; nothing was asked of another site.
    expect(page.get_by_text("pics.example.net 上的图片（未加载）")).to_be_visible()
    assert [url for url in asked if not url.startswith(live_server.url)] == []


def test_a_long_message_opened_at_from_search_shows_all_of_it(page, demo, make_message):
    from playwright.sync_api import expect

    bot, group = demo
    made = _messages(make_message, group)
    log_in(page)

    hit = made["long"]
    page.goto(f"/console/bots/{bot.pk}/conversations/{group.pk}/?at={hit.pk}#m{hit.pk}")
    expect(page.locator(f"#m{hit.pk}")).to_have_class(re.compile(r"\bfocus\b"))
    expect(_text(page, hit)).not_to_have_class(re.compile(r"\bcollapsed\b"))
    expect(_toggle(page, hit)).to_have_text("收起")  # and it can be folded
    expect(_text(page, made["markdown"])).to_have_class(re.compile(r"\bcollapsed\b"))
    expect(page.locator(f"#m{hit.pk} .msg-meta")).to_be_in_viewport()  # from its start
    shoot(page, "long-03-search-hit-zh-1280")


def test_an_opened_message_stays_open_when_the_live_refresh_redraws_it(page, demo, make_message):
    from playwright.sync_api import expect

    bot, group = demo
    pending = make_message(group, direction="out", text=LONG_TEXT, status=Message.Status.QUEUED)
    log_in(page)
    open_conversation(page, group.name)
    toggle = _toggle(page, pending)
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")

    Message.objects.filter(pk=pending.pk).update(
        status=Message.Status.SENT, updated_at=timezone.now()
    )
    expect(page.locator(f"#m{pending.pk} [data-status]")).to_have_attribute("data-status", "sent")
    expect(_text(page, pending)).not_to_have_class(re.compile(r"\bcollapsed\b"))
    expect(_toggle(page, pending)).to_have_text("收起")


def test_long_messages_collapse_on_a_phone_in_chinese_and_english(page, demo, make_message):
    from playwright.sync_api import expect

    bot, group = demo
    made = _messages(make_message, group)
    page.set_viewport_size(PHONE)
    log_in(page)
    open_conversation(page, group.name)

    fits_wide = _toggle(page, made["fits"])  # more than 12 lines on a phone
    expect(fits_wide).to_have_text("展开全文")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.locator(f"#m{made['fits'].pk}").scroll_into_view_if_needed()
    shoot(page, "long-04-collapsed-zh-390")

    page.get_by_role("group", name="语言").get_by_role("button", name="English").click()
    fits_wide = _toggle(page, made["fits"])
    expect(fits_wide).to_have_text("Show all")
    fits_wide.click()
    expect(fits_wide).to_have_text("Show less")
    expect(page.get_by_text("Picture on pics.example.net, not loaded")).to_be_visible()
    page.locator(f"#m{made['fits'].pk}").scroll_into_view_if_needed()
    shoot(page, "long-05-opened-en-390")

    page.set_viewport_size({"width": 1280, "height": 860})
    page.reload()
    expect(_toggle(page, made["long"])).to_have_text("Show all")
    shoot(page, "long-06-collapsed-en-1280")
