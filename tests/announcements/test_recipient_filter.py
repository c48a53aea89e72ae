"""The recipient table of a run filters by state, as the webhook deliveries page does:
all, failed (or perhaps not delivered), waiting (not finished), sent."""

import re

from announcements.fanout import fan_out
from announcements.scheduler import start_due_announcements
from messaging.models import Message


def shown_recipients(client, url: str, **query) -> list[str]:
    html = client.get(url, query).content.decode()
    table = html.split('<table class="recipients">')[1].split("</table>")[0]
    return sorted(re.findall(r"<td[^>]*>(group \d+) ", table))


def test_the_chips_show_the_failed_the_waiting_or_the_sent_recipients(
    client, bot, make_groups, superuser, make_announcement
):
    announcement = make_announcement(bot, make_groups(bot, 4))
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    by_group = {m.conversation.name: m for m in Message.objects.filter(announcement_run=run_id)}
    for name, status in [("group 0", "failed"), ("group 1", "uncertain"), ("group 2", "sent")]:
        Message.objects.filter(pk=by_group[name].pk).update(status=status)
    client.force_login(superuser)
    url = f"/console/announcements/{announcement.pk}/"

    page = client.get(url).content.decode()

    assert shown_recipients(client, url) == ["group 0", "group 1", "group 2", "group 3"]
    assert shown_recipients(client, url, recipients="failed") == ["group 0", "group 1"]
    assert shown_recipients(client, url, recipients="waiting") == ["group 3"]
    assert shown_recipients(client, url, recipients="sent") == ["group 2"]
    assert shown_recipients(client, url, recipients="bogus") == shown_recipients(client, url)
    chips = page.split('class="tabs recipient-filter"')[1].split("</nav>")[0]
    assert re.findall(r">([^<>]+)</a>", chips) == ["全部", "失败", "等待", "已发送"]
    assert f"?run={run_id}&amp;recipients=failed" in chips


def test_a_chip_with_no_recipient_says_so_not_that_they_are_being_prepared(
    client, bot, make_groups, superuser, make_announcement
):
    announcement = make_announcement(bot, make_groups(bot, 1))
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    client.force_login(superuser)

    page = client.get(
        f"/console/announcements/{announcement.pk}/", {"recipients": "sent"}
    ).content.decode()

    assert "此运行没有处于该状态的接收者" in page and "正在准备接收者" not in page
