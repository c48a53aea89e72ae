"""The bots list, the dashboard and a bot's conversations in both languages at 1366 and
390 px: a paused bot's badge ("Paused" in English, "已暂停" in Chinese), an inactive
conversation's ("Inactive"), and a preview's sender followed by a full-width colon and no
space in Chinese ("李娜：…"), a colon and a space (a margin) in English. Nothing wider than the
screen. Screenshots in test-artifacts/console/ (states-*)."""

from django.utils import timezone

from conversations.models import Conversation
from conversations.pauses import pause_bot
from tests.browser import needs_chromium

from .browser import each_language_and_width, log_in, shoot

pytestmark = needs_chromium


def test_bot_states_and_previews_read_well_in_both_languages(page, demo):
    bot, group = demo
    pause_bot(bot.pk, "the agent refused the token", timezone.now())
    Conversation.objects.filter(bot=bot).exclude(pk=group.pk).update(is_active=False)
    log_in(page)
    pages = {
        "bots": "/console/bots/",
        "dashboard": "/console/dashboard/",
        "conversations": f"/console/bots/{bot.pk}/",
    }
    too_wide = {}
    for language, viewport, name in each_language_and_width(page, pages):
        shoot(page, f"states-{name}-{language}-{viewport['width']}")
        if name == "bots":
            state = page.locator(".sending-state .badge").first.inner_text()
            assert state == {"zh": "已暂停", "en": "Paused"}[language]
        if name == "conversations":
            assert (
                page.locator(".badge.inactive").first.inner_text()
                == {
                    "zh": "已停用",
                    "en": "Inactive",
                }[language]
            )
            who = page.locator(".conv-preview .who").first
            gap = who.evaluate("e => parseFloat(getComputedStyle(e).marginRight)")
            if language == "zh":
                assert who.inner_text().endswith("：") and gap == 0
            else:
                assert who.inner_text().endswith(":") and gap > 0
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            too_wide[(language, name, viewport["width"])] = width
    assert too_wide == {}
