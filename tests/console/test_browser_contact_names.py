"""What the reviewer did in a real browser: an agent posts a message with only `sender`
(no `sender_name`) for a synced contact, and the timeline names that contact; a search
for a user's name typed on the group chats tab lands on the users tab."""

from tests.browser import needs_chromium

from .browser import log_in, open_conversation, receive, shoot

pytestmark = needs_chromium


def test_a_message_without_a_sender_name_is_headed_by_the_contacts_name(page, demo, live_server):
    from playwright.sync_api import expect

    bot, group = demo
    text = {"text": {"content": "订单什么时候发货？"}}
    # 李娜, synced from the demo agent; no sender_name.
    receive(live_server, bot, group, "browser-unnamed-1", text, sender="wmDemoUser0002")
    log_in(page)
    open_conversation(page, "客户服务群")

    sender = page.locator("#timeline .msg").last.locator(".sender")
    expect(sender).to_have_text("李娜")
    assert sender.get_attribute("title") == "wmDemoUser0002"
    shoot(page, "contact-names-01-timeline")


def test_a_users_name_searched_on_the_group_chats_tab_shows_the_users_tab(page, demo):
    from playwright.sync_api import expect

    bot, _group = demo
    log_in(page)
    page.goto(f"/console/bots/{bot.pk}/")
    search = page.get_by_role("searchbox", name="按名称搜索")
    search.fill("李娜")
    search.press("Enter")

    expect(page.locator("#switched-tab")).to_have_text("没有群聊匹配“李娜”，以下是匹配的用户。")
    expect(page.locator(".tabs a.active")).to_contain_text("用户")
    expect(page.locator(".conversation-list .conv-name").first).to_contain_text("李娜")
    shoot(page, "contact-names-02-search-switched")
