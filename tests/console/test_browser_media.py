"""An inbound image in a real browser: "still fetching" while the worker fetches it from
the demo agent's /media, then a thumbnail that opens the full-size picture."""

import requests

from messaging import media_fetch
from messaging.models import Message
from tests.browser import needs_chromium

from .browser import log_in, open_conversation, shoot

pytestmark = needs_chromium


def test_operator_sees_a_received_image_and_opens_it_full_size(page, demo, live_server):
    from playwright.sync_api import expect

    bot, group = demo
    body = {
        "secret": bot.secret,
        "msgtype": "image",
        "conversation_id": group.conversation_id,
        "sender": "wmDemoUser0001",
        "sender_name": "张伟",
        "msgid": "browser-image-1",
        "image": {"cdn_type": "wecom_cdn", "cdn": "demo/images/7.jpg"},
    }
    answer = requests.post(live_server.url + "/api/callback", json=body, timeout=10)
    assert answer.json()["errcode"] == 0
    log_in(page)
    open_conversation(page, "客户服务群")
    image_bubble = page.locator("#timeline .msg").last
    expect(image_bubble).to_contain_text("正在获取")
    shoot(page, "media-01-still-fetching")

    # The worker fetches it (the task body, run here); the open page refreshes the bubble.
    message = Message.objects.get(upstream_msgid="browser-image-1")
    assert [media_fetch.fetch(row.pk) for row in message.media.all()] == ["stored"]
    thumbnail = image_bubble.locator("img.chat-image")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth") == 320
    shoot(page, "media-02-thumbnail")

    with page.expect_popup() as opened:
        thumbnail.click()
    full = opened.value
    full.wait_for_load_state()
    size = full.evaluate(
        "() => [document.images[0].naturalWidth, document.images[0].naturalHeight]"
    )
    assert size == [480, 320]
    shoot(full, "media-03-full-size")
