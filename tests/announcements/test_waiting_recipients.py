"""An announcement's recipient whose message a daily cap holds back is told apart from one
simply queued: its row says "waiting until 00:00 tomorrow" (the console's time zone) and why, and
the run's counts say how many of its pending messages wait for a later time, in Chinese by
default and in English when chosen. The hold is real: the delivery engine against the fake
WeCom app, whose person-messages a day are capped."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from announcements.fanout import fan_out
from announcements.scheduler import start_due_announcements
from conversations.models import Conversation
from messaging.models import Message
from tests.connectors.wecom_app.conftest import app_api, app_bot, app_settings  # noqa: F401
from tests.connectors.wecom_app.test_daily_caps import drain_before, next_china_midnight
from tests.messaging.conftest import clock  # noqa: F401  (the simulated clock, at the real now)


@pytest.fixture
def members(app_bot, make_conversation):  # noqa: F811
    return [
        make_conversation(app_bot, userid, name=name, kind=Conversation.Kind.USER)
        for userid, name in [("zhangsan", "张三"), ("lisi", "李四")]
    ]


def recipient_row(html: str, message: Message) -> str:
    return html.split(f'data-msgid="{message.msgid}"')[1].split("</tr>")[0]


def test_a_recipient_held_by_the_daily_cap_says_until_when_and_why_and_the_run_counts_it(
    settings,
    client,
    superuser,
    app_api,  # noqa: F811
    app_bot,  # noqa: F811
    members,
    clock,  # noqa: F811
    make_announcement,
):
    # Given an app licensed for one account × one person-message a day, and an
    # announcement to two members: the first goes out, the second is held until midnight
    settings.WECOM_APP_DAILY_SENDS_PER_ACCOUNT = 1
    app_bot.connector_settings = app_settings(licensed_accounts=1)
    app_bot.save()
    announcement = make_announcement(app_bot, members)
    (run_id,) = start_due_announcements()
    fan_out(run_id)
    drain_before(clock, next_china_midnight(clock.now))
    messages = Message.objects.filter(announcement_run_id=run_id)
    sent, held = messages.get(status="sent"), messages.get(status="queued")
    client.force_login(superuser)
    runs = reverse("announcements:detail", args=[announcement.pk]) + "?partial=runs"

    # When the operator opens its runs, then in English
    chinese = client.get(runs).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/console/"})
    english = client.get(runs).content.decode()

    # Then the held one says until when and why; the sent one is sent
    row = recipient_row(chinese, held)
    assert '<span class="badge waiting">等待至 明天 00:00</span>' in row
    assert "企业微信对此应用每日 1 人次消息的上限" in row and "暂缓至北京时间" in row
    assert 'class="small error-text text-cell"></td>' in row  # a hold is no error
    assert '<span class="badge sent">已发送</span>' in recipient_row(chinese, sent)
    assert "1 条等待中（最早至 明天 00:00）" in chinese
    row = recipient_row(english, held)
    assert '<span class="badge waiting">Waiting until 00:00 tomorrow</span>' in row
    assert escape("WeCom's daily cap of 1 person-messages for this app") in row
    assert "1 pending of 2 · " in english and "1 waiting until 00:00 tomorrow" in english
