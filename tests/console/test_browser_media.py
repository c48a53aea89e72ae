"""An inbound image in a real browser: "still fetching" while the worker fetches it from
the demo agent's /media, then a thumbnail that opens the full-size picture."""

from messaging import media_fetch
from messaging.models import Message
from tests.browser import needs_chromium

from .browser import log_in, open_conversation, receive, shoot

pytestmark = needs_chromium


def test_operator_sees_a_received_image_and_opens_it_full_size(page, demo, live_server):
    from playwright.sync_api import expect

    bot, group = demo
    image = {"image": {"cdn_type": "wecom_cdn", "cdn": "demo/images/7.jpg"}}
    receive(live_server, bot, group, "browser-image-1", image, sender="wmDemoUser0001",
            sender_name="张伟")  # fmt: skip
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
    # Visible once its element is in the page; loaded a moment later (slower under load).
    page.wait_for_function("img => img.complete", arg=thumbnail.element_handle())
    assert thumbnail.evaluate("img => img.naturalWidth") == 320
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


def test_a_history_ending_with_images_opens_at_the_newest_message(page, demo):
    """Thumbnails load after the page scrolled to its end: each has its size in the page
    beforehand (StoredFile.width/height), or a fixed box when its size is not known (the
    400 x 100 one here), so the timeline does not grow under the reader and the newest
    message stays in view."""
    from playwright.sync_api import expect

    from media import store
    from media.models import StoredFile
    from messaging.models import MessageMedia
    from tests.images import image_bytes

    bot, group = demo  # 70 text messages, then these images
    sizes = [(800, 600), (300, 900), (400, 100), (1200, 400), (640, 640), (90, 60)]
    for number, size in enumerate(sizes):
        message = Message.objects.create(
            bot=bot,
            conversation=group,
            direction="in",
            msgtype="image",
            body={"msgtype": "image", "image": {"cdn_type": "wecom_cdn", "cdn": f"x/{number}"}},
            sender_id="wmDemoUser0001",
            sender_name="张伟",
            status="received",
            source="agent",
        )
        MessageMedia.objects.create(
            message=message,
            kind="image",
            status="stored",
            stored_file=store.store_bytes(image_bytes("PNG", size)),
        )
    StoredFile.objects.filter(width=400).update(width=None, height=None)
    last = Message.objects.filter(conversation=group).latest("pk")

    log_in(page)
    open_conversation(page, "客户服务群")
    images = page.locator("#timeline img.chat-image")
    expect(images).to_have_count(len(sizes))
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('#timeline img.chat-image'))"
        ".slice(-3).every(img => img.complete && img.naturalWidth > 0)"
    )

    newest = page.locator(f"#m{last.pk}")
    timeline = page.locator("#timeline").bounding_box()
    box = newest.bounding_box()
    assert box["y"] + box["height"] <= timeline["y"] + timeline["height"] + 1
    assert box["y"] >= timeline["y"]
    # Drawn in their own proportions, at most 240 px either way, small ones not enlarged
    # (to a pixel: once loaded, the thumbnail's rounded proportions win).
    drawn = images.evaluate_all("imgs => imgs.map(i => [i.clientWidth, i.clientHeight])")
    expected = [(240, 180), (80, 240), (240, 180), (240, 80), (240, 240), (90, 60)]
    assert all(
        abs(w - width) <= 1 and abs(h - height) <= 1
        for (w, h), (width, height) in zip(drawn, expected, strict=True)
    ), drawn
    shoot(page, "media-04-history-ends-with-images")
    images.nth(2).scroll_into_view_if_needed()
    shoot(page, "media-05-image-of-unknown-size-in-a-fixed-box")
