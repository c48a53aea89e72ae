"""Quiet hours that hold no window (one end only, or both ends the same time, typed as
"quiet all day") are refused wherever a bot is saved: the console's sending form refused
them, the admin stored them and every announcement went out at once."""

import html

import pytest

from conversations.models import Bot
from tests.conversations.test_admin_stale_tabs import bot_tab, save

SAME_TIME = {
    "en": "The quiet hours start and end at the same time, which holds nothing back",
    "zh-hans": "免打扰时段的开始和结束是同一时间，这样什么也不会暂缓",
}
ONE_END = {
    "en": "Give both ends of the quiet hours, or neither.",
    "zh-hans": "免打扰时段的开始和结束须同时填写或同时留空。",
}
# admin_client: pytest-django's, a superuser logged in.


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize(
    ("start", "end", "said"), [("00:00", "00:00", SAME_TIME), ("22:00", "", ONE_END)]
)
def test_the_admin_refuses_quiet_hours_without_a_window(
    admin_client, bot, language, start, end, said
):
    answer = save(
        admin_client,
        bot,
        bot_tab(admin_client, bot, language),
        quiet_hours_start=start,
        quiet_hours_end=end,
    )

    assert answer.status_code == 200
    assert said[language] in html.unescape(answer.content.decode())
    bot.refresh_from_db()
    assert (bot.quiet_hours_start, bot.quiet_hours_end) == (None, None)


def test_a_bot_stored_with_the_same_start_and_end_can_still_be_renamed(admin_client, bot):
    """Stored so before the check: left unchanged, they do not block another change."""
    Bot.objects.filter(pk=bot.pk).update(quiet_hours_start="08:00", quiet_hours_end="08:00")

    answer = save(admin_client, bot, bot_tab(admin_client, bot), name="renamed")

    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert Bot.objects.get(pk=bot.pk).name == "renamed"
