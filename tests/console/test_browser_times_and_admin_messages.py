"""A scheduled API message's times and the admin's connection test, in both languages at
1366 and 390 px: the message's details say "Scheduled for 13:00" through clock_time (not
always with the date), its bubble's badge the same in its title, and the admin's "Test the
connection" puts a full-width colon after the bot's name in Chinese. Nothing wider than the
screen. Screenshots in test-artifacts/console/ (times-*, admin-test-connection-*)."""

from datetime import timedelta

from django.utils import timezone, translation

from messaging.models import Message
from messaging.status_labels import clock_time
from tests.browser import needs_chromium

from .browser import PHONE, WIDE, each_language_and_width, log_in, shoot

pytestmark = needs_chromium


def test_a_scheduled_messages_times_and_the_connection_test_read_well(page, demo):
    bot, group = demo
    scheduled = Message.objects.create(
        bot=bot,
        conversation=group,
        direction="out",
        msgtype="text",
        body={"msgtype": "text", "text": {"content": "今晚八点发货提醒"}},
        search_text="今晚八点发货提醒",
        status="scheduled",
        source="api",
        scheduled_at=timezone.now() + timedelta(hours=3),
    )
    log_in(page)
    pages = {
        "details": f"/console/bots/{bot.pk}/conversations/{group.pk}/messages/{scheduled.pk}/trace",
        "timeline": f"/console/bots/{bot.pk}/conversations/{group.pk}/",
    }
    at, made = {}, {}
    # The demo's operator reads Shanghai time; three hours on is tomorrow late in the day,
    # which each language says its own way ("明天 00:16", "00:16 tomorrow").
    with timezone.override("Asia/Shanghai"):
        for language, code in (("zh", "zh-hans"), ("en", "en")):
            with translation.override(code):
                at[language] = clock_time(scheduled.scheduled_at)
                made[language] = clock_time(scheduled.created_at)
    too_wide = {}
    for viewport in (WIDE, PHONE):  # the admin in Chinese, the language at first
        too_wide |= _test_the_connection(page, bot, "zh", viewport)
    for language, viewport, name in each_language_and_width(page, pages):
        if name == "details":
            shoot(page, f"times-details-{language}-{viewport['width']}")
            said = page.locator(".scheduled-for").inner_text()
            expected = {"zh": f"计划于 {at['zh']} 发送", "en": f"Scheduled for {at['en']}"}
            assert said == expected[language]
        if name == "timeline":
            shoot(page, f"times-timeline-{language}-{viewport['width']}")
            title = page.locator(f"#m{scheduled.pk} .scheduled-mark").get_attribute("title")
            assert title.startswith(
                {"zh": f"{made['zh']} 通过", "en": f"Created {made['en']} through"}[language]
            )
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            too_wide[(language, name, viewport["width"])] = width
    for viewport in (WIDE, PHONE):  # English, as the walk above left it
        too_wide |= _test_the_connection(page, bot, "en", viewport)
    assert too_wide == {}


def _test_the_connection(page, bot, language: str, viewport: dict) -> dict:
    """The admin's "Test the connection" on the bot: its message checked and shot; the
    page's width if it is wider than the screen."""
    page.set_viewport_size(viewport)
    page.goto("/admin/conversations/bot/")
    page.locator(f'input[name="_selected_action"][value="{bot.pk}"]').check()
    page.locator('select[name="action"]').select_option("test_connection")
    page.locator('button[name="index"]').click()
    message = page.locator(".messagelist li").first.inner_text()
    shoot(page, f"admin-test-connection-{language}-{viewport['width']}")
    # The admin capitalises its messages: "Demo" for the demo bot.
    said = {"zh": "Demo：连接正常 — ", "en": "Demo: connection OK — "}[language]
    assert message.startswith(said), message
    width = page.evaluate("document.documentElement.scrollWidth")
    return {(language, "admin-bots", viewport["width"]): width} if width > viewport["width"] else {}
