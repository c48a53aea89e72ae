"""An announcement whose bot's sending is paused: its run's messages wait, and its page
says from when those still waiting fail (DELIVERY_MAX_QUEUE_AGE_HOURS) rather than only
"pending"; once they have expired, the run counts them as failed, each with the reason."""

from datetime import UTC, datetime, timedelta

import time_machine
from django.urls import reverse

from announcements.fanout import fan_out
from announcements.models import AnnouncementRun
from announcements.tasks import tick
from conversations.pauses import pause_bot
from messaging.models import Message
from messaging.tasks import sweep_deliveries

NINE_SHANGHAI = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai


def run_section(client, announcement) -> str:
    page = client.get(reverse("announcements:detail", args=[announcement.pk])).content.decode()
    return page.split('id="runs"')[1].split('class="panel run')[1].split("</div>\n  </div>")[0]


def test_a_run_held_by_the_bots_pause_says_from_when_its_messages_fail_then_counts_them(
    settings, bot, make_groups, make_announcement, client, superuser
):
    settings.DELIVERY_MAX_QUEUE_AGE_HOURS = 24
    groups = make_groups(bot, 3)
    client.force_login(superuser)
    with time_machine.travel(NINE_SHANGHAI, tick=False) as clock:
        pause_bot(bot.pk, "the agent refused the token", NINE_SHANGHAI)
        announcement = make_announcement(bot, groups)
        tick()
        for run in AnnouncementRun.objects.all():
            fan_out(run.pk)
        held = run_section(client, announcement)
        client.cookies["django_language"] = "en"
        held_in_english = run_section(client, announcement)
        del client.cookies["django_language"]

        clock.move_to(NINE_SHANGHAI + timedelta(hours=24, minutes=1))
        sweep_deliveries()
        expired = run_section(client, announcement)

    assert "0 已发送 · 0 失败 · 3 待发送，共 3" in held
    assert "从 明天 09:00 起，仍在等待的消息将失败，不再发送" in held
    assert "those still waiting fail from 09:00 tomorrow on, not sent" in held_in_english
    assert set(Message.objects.values_list("status", flat=True)) == {"failed"}
    assert "0 已发送 · 3 失败 · 0 待发送，共 3" in expired
    assert "仍在等待的消息将失败" not in expired
