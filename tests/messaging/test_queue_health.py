"""The queue as a health signal (messaging/queue_health.py): a message the engine should be
sending counts from when it became due; one that waits on purpose — a daily cap's hold, its
pace, a paused bot, its scheduled time — is not overdue, and is counted apart. The holds
are made by the delivery engine itself, against the fake WeCom APIs; each message was made
hours ago, as a queue that really waited would have them."""

from datetime import datetime, timedelta

from django.utils import timezone

from botadmin.reasons import Reason
from connectors.registry import connector_for
from conversations.models import Bot, Conversation
from conversations.pauses import pause_bot, resume_bot
from messaging import delivery, queue_health
from messaging.delivery_caps import HELD
from messaging.models import Message
from messaging.queue_health import WALK
from messaging.scheduled import release_due_messages
from tests.connectors.wecom_app.conftest import (  # noqa: F401  (the fake WeCom app API)
    app_api,
    app_bot,
    china_morning,  # noqa: F811
    drain_before,
    next_china_midnight,
)

TEXT = {"msgtype": "text", "text": {"content": "日报"}}


def made_ago(messages: list[Message], **ago) -> datetime:
    """Make `messages` as old as `ago` (timedelta's arguments); that moment."""
    moment = timezone.now() - timedelta(**ago)
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(created_at=moment)
    return moment


def test_a_due_message_no_worker_took_has_waited_since_it_was_made(
    bot, group, make_bot, make_conversation, queue_message
):
    stuck = queue_message(group, TEXT)
    made = made_ago([stuck], minutes=10)
    # Another bot's message tried an hour ago, due again two minutes ago: since then.
    retried_bot = make_bot(name="retried")
    retried = queue_message(make_conversation(retried_bot, "wrRetried"), TEXT)
    made_ago([retried], hours=1)
    due_again = timezone.now() - timedelta(minutes=2)
    Message.objects.filter(pk=retried.pk).update(attempt_count=1, next_attempt_at=due_again)

    assert queue_health.overdue_since() == {bot.pk: made, retried_bot.pk: due_again}
    assert queue_health.overdue_since([retried_bot.pk]) == {retried_bot.pk: due_again}
    assert queue_health.waiting_on_purpose() == {}


def test_the_walk_passes_a_backlog_behind_a_held_message_to_the_due_one_after_it(
    bot, group, make_conversation, queue_message
):
    """Fifty messages made an hour ago wait behind their chat's first, held by a daily cap
    (as the engine leaves them: tests below); a message of another chat made 10 minutes
    ago, due since, is what the bot's figure says."""
    held, *behind = [queue_message(group, TEXT) for _ in range(51)]
    made_ago([held, *behind], hours=1)
    hold = Reason(HELD, cap="WeCom's daily cap", until="00:00", zone="China time")
    Message.objects.filter(pk=held.pk).update(
        next_attempt_at=timezone.now() + timedelta(hours=9), last_error=hold
    )
    assert queue_health.overdue_since() == {}

    stuck = queue_message(make_conversation(bot, "wrOther"), TEXT)
    made = made_ago([stuck], minutes=10)

    assert queue_health.overdue_since() == {bot.pk: made}


def test_a_message_a_daily_cap_holds_and_those_behind_it_are_not_overdue(
    settings,
    app_api,  # noqa: F811
    app_bot,  # noqa: F811
    make_conversation,
    china_morning,  # noqa: F811
    queue_message,
):
    # Given an app chat whose daily cap is one message, and three messages made 3 hours ago
    settings.WECOM_APP_CHAT_DAILY_LIMIT = 1
    chat = make_conversation(
        app_bot, connector_for(app_bot).create_group("项目群", "zhangsan", ["zhangsan", "lisi"])
    )
    messages = [queue_message(chat, TEXT) for _ in range(3)]
    made_ago(messages, hours=3)
    midnight = next_china_midnight(china_morning.now)

    # When the engine sends the first and the cap holds the second (the third behind it)
    drain_before(china_morning, midnight)

    statuses = [Message.objects.get(pk=m.pk).status for m in messages]
    assert statuses == [Message.Status.SENT, Message.Status.QUEUED, Message.Status.QUEUED]
    assert Message.objects.get(pk=messages[1].pk).next_attempt_at == midnight
    # Then nothing of the bot is overdue; the hold is counted apart
    assert queue_health.overdue_since() == {}
    assert queue_health.waiting_on_purpose() == {
        app_bot.pk: {queue_health.DAILY_CAP: 1, queue_health.PACE: 0, queue_health.RETRY: 0}
    }
    assert list(queue_health.held_by_cap(timezone.now())) == [messages[1]]


def test_messages_keeping_their_bots_pace_are_not_overdue(
    wecom, wecom_bot, make_conversation, clock, queue_message
):
    # Given a bot allowed one message a minute, and a message for each of two groups made
    # two hours ago
    wecom_bot.rate_limit_per_minute = 1
    wecom_bot.save()
    groups = [make_conversation(wecom_bot, f"wr{key}", robot_key=key) for key in sorted(wecom.keys)]
    messages = [queue_message(group, TEXT) for group in groups]
    made_ago(messages, hours=2)

    # When the engine sends one and gives the other its wait
    delivery.drain(clock)

    assert len(wecom.messages) == 1
    paced = Message.objects.get(pk__in=[m.pk for m in messages], status=Message.Status.QUEUED)
    assert paced.next_attempt_at > clock.now and paced.attempt_count == 0
    # Then it is not overdue while it waits, and is once its time has come
    assert queue_health.overdue_since(now=clock.now) == {}
    assert queue_health.waiting_on_purpose(clock.now) == {
        wecom_bot.pk: {queue_health.DAILY_CAP: 0, queue_health.PACE: 1, queue_health.RETRY: 0}
    }
    after = paced.next_attempt_at + timedelta(seconds=1)
    assert queue_health.overdue_since(now=after) == {wecom_bot.pk: paced.next_attempt_at}


def test_a_scheduled_message_is_due_from_its_time_not_from_when_it_was_made(
    bot, group, queue_message
):
    # Given a message made a day ago for a time that has just come
    scheduled = queue_message(group, TEXT, send_at=timezone.now() + timedelta(hours=1))
    made_ago([scheduled], days=1)
    time_come = timezone.now() - timedelta(seconds=30)
    Message.objects.filter(pk=scheduled.pk).update(scheduled_at=time_come)
    assert queue_health.overdue_since() == {}  # not queued yet

    # When the release queues it
    assert release_due_messages() == 1

    # Then it has waited 30 seconds, not a day
    assert queue_health.overdue_since() == {bot.pk: time_come}


def test_a_paused_bots_queue_waits_for_the_resume_and_is_due_from_then(bot, group, queue_message):
    # Given a message made two hours ago for a bot paused since
    waiting = queue_message(group, TEXT)
    made_ago([waiting], hours=2)
    pause_bot(bot.pk, "the agent refused our token", timezone.now())

    # Then it is not overdue, but counted as waiting for the paused bot
    assert queue_health.overdue_since() == {}
    assert queue_health.waiting_on_purpose() == {bot.pk: {queue_health.PAUSED: 1}}
    assert list(queue_health.held_by_pause()) == [waiting]

    # When the bot is resumed, it is due from the resume on
    before = timezone.now()
    resume_bot(Bot.objects.get(pk=bot.pk), actor=None)

    [since] = queue_health.overdue_since().values()
    assert since >= before
    assert queue_health.waiting_on_purpose() == {}


def test_a_due_message_behind_more_blocked_chats_than_a_walk_takes_is_still_found(
    bot, make_conversation, queue_message
):
    """1,001 chats each wait for their first message's retry, with a message due behind it
    for an hour: more than the walk from the longest due message takes (WALK). A message of
    another chat, due for 10 minutes, is still the bot's figure, not hidden behind them."""
    chats = Conversation.objects.bulk_create(
        Conversation(bot=bot, conversation_id=f"wrBlocked{i}") for i in range(WALK + 1)
    )
    retry_at = timezone.now() + timedelta(hours=1)

    def queued(chat, **fields) -> Message:
        return Message(
            bot=bot, conversation=chat, direction="out", status="queued", source="api",
            msgtype="text", body=TEXT, **fields,
        )  # fmt: skip

    heads = Message.objects.bulk_create(
        queued(chat, attempt_count=1, next_attempt_at=retry_at) for chat in chats
    )
    behind = Message.objects.bulk_create(queued(chat) for chat in chats)
    made_ago([*heads, *behind], hours=1)
    assert queue_health.overdue_since() == {}

    stuck = queue_message(make_conversation(bot, "wrOther"), TEXT)
    made = made_ago([stuck], minutes=10)

    assert queue_health.overdue_since() == {bot.pk: made}
    assert queue_health.overdue_since([bot.pk]) == {bot.pk: made}
