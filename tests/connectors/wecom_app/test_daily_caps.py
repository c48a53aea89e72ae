"""WeCom drops without a word what passes its daily caps (shared/spec/wecom-app.md, "Limits"):
10,000 messages a day to a member of an app chat (counted per chat), and licensed accounts ×
200 person-messages a day per app. Delivery counts them per WeCom day (China's calendar day)
and holds a message that would pass one until the next day, saying why; the caps are shrunk
here so that a few messages reach them."""

from datetime import timedelta

import pytest
from django.utils import translation

from botadmin.reasons import Reason, translate
from connectors.registry import connector_for
from connectors.wecom_app import EARLIER_CHAT_CAP
from conversations.models import Conversation
from messaging import delivery
from messaging.delivery_caps import HELD
from messaging.models import DeliveryAttempt, Message

from .conftest import CHINA, app_settings, drain_before, next_china_midnight

TEXT = {"msgtype": "text", "text": {"content": "日报"}}


@pytest.fixture
def app_chat(app_api, app_bot, make_conversation):
    chatid = connector_for(app_bot).create_group("项目群", "zhangsan", ["zhangsan", "lisi"])
    return make_conversation(app_bot, chatid, name="项目群")


def test_the_message_past_an_app_chats_daily_cap_waits_for_the_next_china_day(
    settings, app_api, app_chat, china_morning, queue_message, run_queue
):
    settings.WECOM_APP_CHAT_DAILY_LIMIT = 3
    messages = [
        queue_message(app_chat, {"msgtype": "text", "text": {"content": f"n{n}"}}) for n in range(4)
    ]
    midnight = next_china_midnight(china_morning.now)

    drain_before(china_morning, midnight)

    assert [body["text"]["content"] for _, body in app_api.sent] == ["n0", "n1", "n2"]
    held = Message.objects.get(pk=messages[3].pk)
    assert held.status == Message.Status.QUEUED
    assert held.next_attempt_at == midnight
    day = midnight.astimezone(CHINA).date()
    expected = (
        "WeCom's daily cap of 3 messages for this group chat is reached: held until "
        f"{day:%Y-%m-%d} 00:00 China time"
    )
    assert held.last_error == expected
    attempt = DeliveryAttempt.objects.get(message=held)
    assert (attempt.outcome, attempt.response_text) == ("retry", expected)
    with translation.override("zh-hans"):
        assert translate(held.last_error) == (
            f"企业微信对此群聊每日 3 条消息的上限已用完：暂缓至北京时间 {day:%Y-%m-%d} 00:00"
        )

    run_queue()

    assert len(app_api.sent) == 4
    held.refresh_from_db()
    assert held.status == Message.Status.SENT
    assert held.sent_at >= midnight


def test_a_cap_of_one_message_says_message_and_an_earlier_hold_still_translates(
    settings, app_api, app_chat, china_morning, queue_message
):
    settings.WECOM_APP_CHAT_DAILY_LIMIT = 1
    queue_message(app_chat, TEXT)
    second = queue_message(app_chat, TEXT)
    midnight = next_china_midnight(china_morning.now)

    drain_before(china_morning, midnight)

    held = Message.objects.get(pk=second.pk)
    day = midnight.astimezone(CHINA).date()
    assert held.last_error == (
        "WeCom's daily cap of 1 message for this group chat is reached: held until "
        f"{day:%Y-%m-%d} 00:00 China time"
    )
    with translation.override("zh-hans"):
        assert translate(held.last_error).startswith("企业微信对此群聊每日 1 条消息的上限已用完：")
    # What holds stored before the cap had a singular say, read back as stored.
    earlier = Reason(HELD, cap=Reason(EARLIER_CHAT_CAP, limit="1"), until="00:00", zone="")
    with translation.override("zh-hans"):
        assert translate(earlier).startswith("企业微信对此群聊每日 1 条消息的上限已用完：")


def test_a_held_message_is_never_given_up_on(
    settings, app_api, app_chat, china_morning, queue_message, run_queue
):
    settings.WECOM_APP_CHAT_DAILY_LIMIT = 1
    settings.DELIVERY_MAX_ATTEMPTS = 1
    first = queue_message(app_chat, TEXT)
    second = queue_message(app_chat, TEXT)

    drain_before(china_morning, next_china_midnight(china_morning.now))

    assert Message.objects.get(pk=first.pk).status == Message.Status.SENT
    assert Message.objects.get(pk=second.pk).status == Message.Status.QUEUED
    run_queue()
    assert Message.objects.get(pk=second.pk).status == Message.Status.SENT


def test_holds_do_not_use_up_a_messages_retries(
    settings, app_api, app_bot, member, make_conversation, china_morning, queue_message
):
    # Given the app's cap of one person-message a day, three conversations' messages,
    # and a retry schedule of one retry
    settings.WECOM_APP_DAILY_SENDS_PER_ACCOUNT = 1
    settings.DELIVERY_MAX_ATTEMPTS = 2
    app_bot.connector_settings = app_settings(licensed_accounts=1)
    app_bot.save()
    app_api.add_user("wangwu", "王五")
    lisi = make_conversation(app_bot, "lisi", name="李四", kind=Conversation.Kind.USER)
    wangwu = make_conversation(app_bot, "wangwu", name="王五", kind=Conversation.Kind.USER)
    queue_message(member, TEXT)
    queue_message(lisi, TEXT)
    last = queue_message(wangwu, TEXT)
    first_midnight = next_china_midnight(china_morning.now)
    second_midnight = next_china_midnight(first_midnight)

    # When the last one is held one day, then the next, then WeCom answers it -1 (busy)
    drain_before(china_morning, first_midnight)
    china_morning.now = first_midnight
    drain_before(china_morning, second_midnight)
    last.refresh_from_db()
    assert (last.status, last.next_attempt_at) == (Message.Status.QUEUED, second_midnight)
    assert last.attempt_count == 0
    app_api.answer_next("message/send", -1)
    china_morning.now = second_midnight
    delivery.drain(china_morning)

    # Then it waits for its first retry, as a message tried once
    last.refresh_from_db()
    assert last.status == Message.Status.QUEUED
    assert last.attempt_count == 1
    base = timedelta(seconds=settings.DELIVERY_RETRY_BASE_DELAY)
    assert second_midnight + base * 0.8 <= last.next_attempt_at <= second_midnight + base * 1.2
    # and its attempts say why it waited each time
    outcomes = DeliveryAttempt.objects.filter(message=last).order_by("pk")
    assert list(outcomes.values_list("outcome", flat=True)) == ["retry"] * 3

    # and it goes out then
    drain_before(china_morning, next_china_midnight(second_midnight))
    last.refresh_from_db()
    assert (last.status, last.attempt_count) == (Message.Status.SENT, 2)
    assert [body["touser"] for _, body in app_api.sent] == ["zhangsan", "lisi", "wangwu"]


def test_a_send_wecom_refused_gives_its_share_of_the_cap_back(
    settings, app_api, app_chat, china_morning, queue_message
):
    settings.WECOM_APP_CHAT_DAILY_LIMIT = 2
    app_api.answer_next("appchat/send", -1)  # busy: nothing was sent, retried later
    queue_message(app_chat, TEXT)
    queue_message(app_chat, TEXT)

    drain_before(china_morning, next_china_midnight(china_morning.now))

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert len(app_api.sent) == 2


def test_each_app_chat_has_a_cap_of_its_own(
    settings, app_api, app_bot, app_chat, make_conversation, china_morning, queue_message
):
    settings.WECOM_APP_CHAT_DAILY_LIMIT = 1
    other_id = connector_for(app_bot).create_group("另一个群", "lisi", ["zhangsan", "lisi"])
    other = make_conversation(app_bot, other_id, name="另一个群")
    queue_message(app_chat, TEXT)
    queue_message(other, TEXT)

    drain_before(china_morning, next_china_midnight(china_morning.now))

    assert len(app_api.sent) == 2


def test_the_apps_daily_cap_counts_person_messages_and_holds_the_one_past_it(
    settings, app_api, app_bot, member, make_conversation, china_morning, queue_message, run_queue
):
    settings.WECOM_APP_DAILY_SENDS_PER_ACCOUNT = 3
    app_bot.connector_settings = app_settings(licensed_accounts=1)
    app_bot.save()
    both = make_conversation(app_bot, "zhangsan|lisi", kind=Conversation.Kind.USER)
    lisi = make_conversation(app_bot, "lisi", name="李四", kind=Conversation.Kind.USER)
    queue_message(member, TEXT)  # one person-message
    queue_message(both, TEXT)  # two
    held = queue_message(lisi, TEXT)  # a fourth: past the cap of 1 × 3
    midnight = next_china_midnight(china_morning.now)

    drain_before(china_morning, midnight)

    assert [body["touser"] for _, body in app_api.sent] == ["zhangsan", "zhangsan|lisi"]
    held.refresh_from_db()
    assert (held.status, held.next_attempt_at) == (Message.Status.QUEUED, midnight)
    assert held.last_error.startswith(
        "WeCom's daily cap of 3 person-messages for this app (1 licensed account × 3) is "
        "reached: held until "
    )

    run_queue()

    assert [body["touser"] for _, body in app_api.sent][2:] == ["lisi"]


def test_without_licensed_accounts_the_apps_cap_is_not_counted(
    settings, app_api, app_bot, member, china_morning, queue_message
):
    settings.WECOM_APP_DAILY_SENDS_PER_ACCOUNT = 1
    for _ in range(3):
        queue_message(member, TEXT)

    drain_before(china_morning, next_china_midnight(china_morning.now))

    assert len(app_api.sent) == 3


def test_app_chat_messages_do_not_count_against_the_apps_person_messages(
    settings, app_api, app_bot, app_chat, member, china_morning, queue_message
):
    settings.WECOM_APP_DAILY_SENDS_PER_ACCOUNT = 1
    app_bot.connector_settings = app_settings(licensed_accounts=1)
    app_bot.save()
    queue_message(app_chat, TEXT)
    queue_message(member, TEXT)

    drain_before(china_morning, next_china_midnight(china_morning.now))

    assert len(app_api.sent) == 2


def test_the_licensed_accounts_setting_is_optional_and_positive(app_bot):
    form = connector_for(app_bot).settings_form
    assert form(data=app_settings()).is_valid()
    assert form(data=app_settings(licensed_accounts="500")).is_valid()
    assert "licensed_accounts" in form(data=app_settings(licensed_accounts="0")).errors
