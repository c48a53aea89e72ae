"""The delivery engine against a real fake agent (bridge protocol): retries, order, rate
limits, exactly-once, account protection. Time is simulated where the engine waits."""

import os
import socket
import subprocess
import sys
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from botadmin.reasons import Reason
from conversations.models import Bot
from messaging.delivery import deliver
from messaging.delivery import drain as drain_engine
from messaging.delivery_claim import LOOK_AHEAD, claim_due_messages
from messaging.delivery_outcomes import record
from messaging.delivery_send import call_connector, send_and_record
from messaging.models import DeliveryAttempt, Message
from messaging.outbox import CLAIM_BATCH, this_pid_namespace
from messaging.sweeper import EARLIER_EXPIRED, sweep
from tests.messaging.conftest import drain

TEXT = {"msgtype": "text", "text": {"content": "hello"}}
BODIES = [
    {"msgtype": "text", "text": {"content": "你好", "mentioned_list": ["@all"]}},
    {
        "msgtype": "link",
        "link": {
            "title": "标题",
            "url": "https://x.com",
            "image_url": "https://x.com/l.png",
            "desc": "描述",
        },
    },
    {"msgtype": "image", "image": {"url": "https://x.com/logo.png"}},
    {
        "msgtype": "miniprogram",
        "miniprogram": {"appid": "wx1", "title": "订单", "page_path": "p/i"},
    },
]


def test_every_msgtype_reaches_the_agent_with_the_right_wire_body(
    agent, bridge_group, queue_message, run_queue
):
    messages = [queue_message(bridge_group, body) for body in BODIES]

    run_queue()

    for message, body in zip(messages, BODIES, strict=True):
        message.refresh_from_db()
        assert message.status == "sent"
        assert message.upstream_msgid == agent.sent[message.msgid].msgid
        assert agent.sent[message.msgid].body == {
            "id": message.msgid,
            "conversation_id": "wrDemoGroup0001",
            **body,
        }


def test_agent_down_for_a_while_then_every_message_is_sent_and_none_lost(
    agent, bridge_group, queue_message, clock
):
    agent.go_down()
    messages = [
        queue_message(bridge_group, {"msgtype": "text", "text": {"content": f"#{n}"}})
        for n in range(5)
    ]
    assert deliver(messages[0].pk, clock).result == "retry"
    assert deliver(messages[0].pk, clock).result == "waiting"  # backoff: not before its time
    clock.advance(3600)
    assert deliver(messages[0].pk, clock).result == "retry"
    assert Message.objects.get(pk=messages[0].pk).attempt_count == 2

    agent.come_back()
    drain(clock)

    assert [Message.objects.get(pk=m.pk).status for m in messages] == ["sent"] * 5
    assert sorted(agent.sent) == sorted(m.msgid for m in messages)


@pytest.mark.parametrize(
    "trouble",
    [
        {"errcode": 45009, "errcode_times": 2},
        {"errcode": -1, "errcode_times": 2},
        {"http_status": 503},
        {"http_status": 429},
        {"non_json": True},
    ],
    ids=["45009", "errcode-1", "5xx", "429", "protocol-error"],
)
def test_busy_or_broken_agent_answers_are_retried_then_sent(
    agent, bridge_group, queue_message, clock, trouble
):
    for name, value in trouble.items():
        setattr(agent.behaviour, name, value)
    message = queue_message(bridge_group, TEXT)

    assert deliver(message.pk, clock).result == "retry"
    assert deliver(message.pk, clock).result == "waiting"
    message.refresh_from_db()
    assert message.status == "queued" and message.last_error
    agent.behaviour.http_status = None
    agent.behaviour.non_json = False
    drain(clock)
    message.refresh_from_db()
    assert message.status == "sent"
    assert [a.outcome for a in message.attempts.all()][-1] == "sent"
    assert list(agent.sent) == [message.msgid]


def test_agent_timeout_is_retried_and_the_repeat_is_sent_once(
    agent, bridge_group, queue_message, clock, settings
):
    settings.BRIDGE_READ_TIMEOUT = 0.3
    agent.behaviour.delay = 0.6  # the agent sends, but answers too late
    message = queue_message(bridge_group, TEXT)

    assert deliver(message.pk, clock).result == "retry"
    agent.behaviour.delay = 0
    clock.advance(3600)
    assert deliver(message.pk, clock).result == "sent"

    assert len(agent.send_requests) == 2
    assert list(agent.sent) == [message.msgid]  # the agent saw one id, sent once


def test_other_errcode_fails_with_the_errmsg_visible(agent, bridge_group, queue_message, run_queue):
    agent.behaviour.errcode = 40058
    message = queue_message(bridge_group, TEXT)
    run_queue()
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.last_error == "simulated errcode 40058"
    assert message.attempts.get().errcode == 40058


def test_bad_token_fails_the_message_and_pauses_the_bot_whose_queue_then_waits(
    agent, bridge_bot, bridge_group, queue_message, clock
):
    agent.token = "a-different-token-the-bot-does-not-know"
    first = queue_message(bridge_group, TEXT)
    second = queue_message(bridge_group, TEXT)

    assert deliver(first.pk, clock).result == "failed"
    bridge_bot.refresh_from_db()
    assert bridge_bot.paused_at is not None
    assert "check the agent token" in bridge_bot.paused_reason

    assert deliver(second.pk, clock).result == "paused"
    second.refresh_from_db()
    assert second.status == "queued" and second.attempt_count == 0  # no retries burnt
    assert second.pk not in sweep(clock)


def test_the_same_message_processed_twice_is_sent_once(agent, bridge_group, queue_message, clock):
    message = queue_message(bridge_group, TEXT)

    assert deliver(message.pk, clock).result == "sent"
    assert deliver(message.pk, clock).result == "skipped"

    assert len(agent.send_requests) == 1
    assert message.attempts.count() == 1


def test_retries_stop_after_the_configured_attempts_and_the_message_fails(
    agent, bridge_group, queue_message, run_queue, settings, clock
):
    settings.DELIVERY_MAX_ATTEMPTS = 3
    agent.behaviour.http_status = 502
    message = queue_message(bridge_group, TEXT)

    run_queue()

    message.refresh_from_db()
    assert message.status == "failed"
    assert message.last_error.startswith("gave up after 3 attempts")
    assert message.attempts.count() == 3
    assert clock.elapsed >= settings.DELIVERY_RETRY_BASE_DELAY * (1 + 2) * 0.8


def test_backoff_grows_exponentially(agent, bridge_group, queue_message, clock, settings):
    settings.DELIVERY_RETRY_BASE_DELAY = 10
    agent.behaviour.http_status = 500
    message = queue_message(bridge_group, TEXT)
    waits = []
    for _ in range(4):
        deliver(message.pk, clock)
        message.refresh_from_db()
        waits.append((message.next_attempt_at - clock()).total_seconds())
        clock.now = message.next_attempt_at
    for n, wait in enumerate(waits):
        assert 10 * 2**n * 0.8 <= wait <= 10 * 2**n * 1.2


def test_rate_limit_30_messages_at_10_a_minute_take_two_minutes_and_none_fail(
    agent, bridge_bot, make_conversation, queue_message, run_queue, clock
):
    bridge_bot.rate_limit_per_minute = 10
    bridge_bot.save()
    groups = [make_conversation(bridge_bot, f"wrGroup{n}") for n in range(6)]
    for n in range(30):
        queue_message(groups[n % 6], {"msgtype": "text", "text": {"content": f"#{n}"}})

    run_queue()

    assert clock.elapsed >= 120
    statuses = set(Message.objects.values_list("status", flat=True))
    assert statuses == {"sent"}
    assert len(agent.sent) == 30
    sent_times = sorted(Message.objects.values_list("sent_at", flat=True))
    for index, start in enumerate(sent_times):
        in_a_minute = [t for t in sent_times[index:] if t - start < timedelta(seconds=60)]
        assert len(in_a_minute) <= 10


def test_minimum_gap_between_two_messages_to_one_conversation(
    agent, bridge_bot, bridge_group, queue_message, run_queue, settings
):
    settings.DELIVERY_CONVERSATION_MIN_GAP = 5
    bridge_bot.rate_limit_per_minute = 10_000
    bridge_bot.save()
    for n in range(4):
        queue_message(bridge_group, {"msgtype": "text", "text": {"content": f"#{n}"}})

    run_queue()

    times = list(Message.objects.order_by("pk").values_list("sent_at", flat=True))
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= 5 for gap in gaps), gaps


def test_order_per_conversation_is_kept_even_when_an_older_message_is_retried(
    agent, bridge_bot, make_conversation, queue_message, run_queue
):
    bridge_bot.rate_limit_per_minute = 10_000
    bridge_bot.save()
    first, second = make_conversation(bridge_bot, "wrA"), make_conversation(bridge_bot, "wrB")
    agent.behaviour.errcode, agent.behaviour.errcode_times = (
        45009,
        3,
    )  # the oldest meets a busy agent
    expected = {first.pk: [], second.pk: []}
    for n in range(12):
        conversation = first if n % 3 else second
        message = queue_message(conversation, {"msgtype": "text", "text": {"content": f"#{n}"}})
        expected[conversation.pk].append(message.msgid)

    run_queue()

    sent_order = sorted(agent.sent.values(), key=lambda sent: sent.at)
    for conversation in (first, second):
        got = [
            s.id for s in sent_order if s.body["conversation_id"] == conversation.conversation_id
        ]
        assert got == expected[conversation.pk]
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


def test_sweeper_takes_back_a_lost_send_and_retries_it_for_an_idempotent_connector(
    agent, bridge_group, queue_message, clock, settings
):
    message = queue_message(bridge_group, TEXT)
    claim_due_messages(clock, ids=[message.pk])  # a worker claimed it, then died mid-call
    assert message.attempts.get().outcome == "in_flight"  # the claim left a trace
    assert sweep(clock) == []
    clock.advance(settings.DELIVERY_SENDING_TIMEOUT + settings.DELIVERY_SWEEP_INTERVAL + 1)

    assert sweep(clock) == [message.pk]

    message.refresh_from_db()
    assert message.status == "queued"
    interrupted = message.attempts.get()
    assert (interrupted.outcome, interrupted.response_text[:11]) == ("retry", "interrupted")
    assert deliver(message.pk, clock).result == "sent"
    assert list(message.attempts.order_by("pk").values_list("outcome", flat=True)) == [
        "retry",
        "sent",
    ]


def test_sweeper_takes_back_at_once_a_send_whose_process_is_gone_from_this_host(
    agent, bridge_bot, make_conversation, queue_message, clock
):
    ended = subprocess.Popen([sys.executable, "-c", ""])  # a process of this host, ended
    ended.wait()
    dead = f"{this_pid_namespace()}:{ended.pid}"
    Bot.objects.filter(pk=bridge_bot.pk).update(rate_limit_per_minute=100_000)
    chats = [make_conversation(bridge_bot, f"wrProcess{i}") for i in range(5)]
    messages = [queue_message(chat, TEXT) for chat in chats]
    claim_due_messages(clock, ids=[m.pk for m in messages])  # each lease: minutes ahead
    killed, elsewhere, same_name, old_format, alive = messages
    DeliveryAttempt.objects.filter(message=killed).update(worker=dead)
    DeliveryAttempt.objects.filter(message=elsewhere).update(worker=f"other-host:{ended.pid}")
    # A container sharing this host's name (its network) has pids of its own.
    DeliveryAttempt.objects.filter(message=same_name).update(
        worker=f"{socket.gethostname()}/0badf00d:{ended.pid}"
    )
    # Written by a version that recorded the host name alone: whose pid it is is unknown.
    DeliveryAttempt.objects.filter(message=old_format).update(
        worker=f"{socket.gethostname()}:{ended.pid}"
    )
    assert alive.attempts.get().worker == f"{this_pid_namespace()}:{os.getpid()}"

    assert sweep(clock) == [killed.pk]  # the others wait for their lease

    statuses = dict(Message.objects.values_list("pk", "status"))
    assert [statuses[m.pk] for m in messages] == ["queued"] + ["sending"] * 4
    interrupted = killed.attempts.get()
    assert (interrupted.outcome, interrupted.worker) == ("retry", dead)
    assert interrupted.response_text.startswith("interrupted")


def test_sweeper_marks_a_lost_robot_send_uncertain(
    wecom, wecom_group, queue_message, clock, settings
):
    message = queue_message(wecom_group, TEXT)
    claim_due_messages(clock, ids=[message.pk])
    clock.advance(settings.DELIVERY_SENDING_TIMEOUT + 1)

    assert sweep(clock) == []

    message.refresh_from_db()
    assert message.status == "uncertain"
    assert message.attempts.get().outcome == "uncertain"


def test_sweeper_reenqueues_queued_messages_whose_wake_up_was_lost(
    agent, bridge_group, queue_message, clock, settings
):
    message = queue_message(bridge_group, TEXT)  # never published: the broker was down
    assert sweep(clock) == []  # fresh messages belong to their own wake-up
    Message.objects.filter(pk=message.pk).update(
        created_at=clock() - timedelta(seconds=settings.DELIVERY_SWEEP_INTERVAL + 1)
    )
    assert sweep(clock) == [message.pk]


def test_scheduled_messages_are_left_to_their_own_release(
    agent, bridge_group, queue_message, clock
):
    message = queue_message(bridge_group, TEXT, send_at=clock() + timedelta(hours=1))
    assert message.status == "scheduled"
    assert deliver(message.pk, clock).result == "skipped"
    clock.advance(7200)
    assert sweep(clock) == []
    assert agent.send_requests == []


def test_a_message_waiting_behind_an_older_one_is_woken_when_that_one_is_done(
    agent, bridge_group, queue_message, clock
):
    older, newer = queue_message(bridge_group, TEXT), queue_message(bridge_group, TEXT)

    assert deliver(newer.pk, clock).result == "waiting"
    newer.refresh_from_db()
    assert newer.next_attempt_at is None  # no time of its own: it goes right after the older

    assert deliver(older.pk, clock).result == "sent"
    clock.advance(5)  # past the conversation gap and the bot's next 3 s rate slot
    assert [m.message.pk for m in claim_due_messages(clock)] == [newer.pk]


def test_with_the_cache_down_a_message_waits_and_leaves_when_it_is_back(
    agent, bridge_group, queue_message, clock, settings, dead_cache
):
    # The pace that protects the WeCom account lives in the cache: without it
    # nothing is sent, and nothing is lost either.
    message = queue_message(bridge_group, TEXT)
    working_cache = settings.CACHES
    settings.CACHES = dead_cache

    with pytest.raises(Exception, match="(?i)connect"):
        deliver(message.pk, clock)

    message.refresh_from_db()
    assert (message.status, message.attempt_count, agent.sent) == ("queued", 0, {})
    settings.CACHES = working_cache
    assert deliver(message.pk, clock).result == "sent"
    assert message.msgid in agent.sent


def test_one_claim_takes_the_oldest_message_of_each_conversation_and_opens_their_attempts(
    agent, bridge_bot, make_conversation, queue_message, clock
):
    bridge_bot.rate_limit_per_minute = 10_000
    bridge_bot.save()
    first, second = make_conversation(bridge_bot, "wrA"), make_conversation(bridge_bot, "wrB")
    a1, b1, a2, b2, a3 = (
        queue_message(conversation, TEXT) for conversation in (first, second, first, second, first)
    )

    claimed = claim_due_messages(clock)

    assert [attempt.message.pk for attempt in claimed] == [a1.pk, b1.pk]
    assert [m.status for m in Message.objects.order_by("pk")] == ["sending"] * 2 + ["queued"] * 3
    assert [attempt.row.outcome for attempt in claimed] == ["in_flight", "in_flight"]
    assert claim_due_messages(clock) == []  # the newer ones wait for these


# A backlog longer than the oldest messages a claim looks at first: the claim then reads
# every conversation's head to find the others.
@pytest.mark.parametrize("backlog_size", [30, CLAIM_BATCH + LOOK_AHEAD], ids=["short", "long"])
def test_a_conversation_waiting_for_its_retry_holds_its_own_backlog_and_no_one_elses(
    agent, bridge_bot, make_conversation, queue_message, clock, settings, backlog_size
):
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0
    bridge_bot.rate_limit_per_minute = 10_000
    bridge_bot.save()
    stuck, other = make_conversation(bridge_bot, "wrStuck"), make_conversation(bridge_bot, "wrOk")
    head = queue_message(stuck, TEXT)
    Message.objects.filter(pk=head.pk).update(next_attempt_at=clock() + timedelta(minutes=5))
    backlog = [queue_message(stuck, TEXT) for _ in range(backlog_size)]
    others = [queue_message(other, TEXT) for _ in range(3)]

    claimed = claim_due_messages(clock)
    assert [a.message.pk for a in claimed] == [others[0].pk]
    send_and_record(claimed, clock)

    clock.advance(301)  # the head's retry is due: it goes first, then its backlog in order
    assert drain_engine(clock).results.count("sent") == 1 + backlog_size + 2
    sent = sorted(agent.sent.values(), key=lambda s: s.at)
    expected = [head.msgid, *(m.msgid for m in backlog)]
    assert [s.id for s in sent if s.body["conversation_id"] == "wrStuck"] == expected


def test_one_drain_sends_every_due_message_in_order_per_conversation(
    agent, bridge_bot, make_conversation, queue_message, clock, settings
):
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0
    bridge_bot.rate_limit_per_minute = 10_000
    bridge_bot.save()
    groups = [make_conversation(bridge_bot, f"wrGroup{n}") for n in range(4)]
    expected = {group.conversation_id: [] for group in groups}
    for n in range(20):
        message = queue_message(groups[n % 4], {"msgtype": "text", "text": {"content": f"#{n}"}})
        expected[groups[n % 4].conversation_id].append(message.msgid)

    drained = drain_engine(clock)

    assert drained.results == ["sent"] * 20 and drained.next_due is None
    sent = sorted(agent.sent.values(), key=lambda s: s.at)
    for conversation_id, msgids in expected.items():
        assert [s.id for s in sent if s.body["conversation_id"] == conversation_id] == msgids
    assert DeliveryAttempt.objects.filter(outcome="sent").count() == 20


def test_an_uncertain_message_holds_its_conversation_only_for_the_hold(
    wecom, wecom_group, queue_message, clock, settings
):
    settings.DELIVERY_UNCERTAIN_HOLD = 600
    wecom.drop_next = 1  # posted, but the answer is lost
    uncertain = queue_message(wecom_group, TEXT)
    newer = queue_message(wecom_group, TEXT)
    assert deliver(uncertain.pk, clock).result == "uncertain"
    uncertain.refresh_from_db()
    assert "DELIVERY_UNCERTAIN_HOLD" in uncertain.last_error

    clock.advance(599)
    assert deliver(newer.pk, clock).result == "waiting"
    clock.advance(2)
    assert deliver(newer.pk, clock).result == "sent"
    uncertain.refresh_from_db()
    assert uncertain.status == "uncertain"  # still the operator's to decide


def test_an_uncertain_messages_hold_ends_at_a_time_of_the_consoles_time_zone(
    wecom, wecom_group, queue_message, clock, settings
):
    """Its reason was the only time on the message's page in UTC: read in Shanghai at
    03:41, "wait until 2026-12-06 20:02:50 UTC" seemed a day in the past."""
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.DELIVERY_UNCERTAIN_HOLD = 600
    wecom.drop_next = 1  # posted, but the answer is lost
    uncertain = queue_message(wecom_group, TEXT)
    assert deliver(uncertain.pk, clock).result == "uncertain"
    uncertain.refresh_from_db()

    hold_end = clock.now + timedelta(seconds=600)
    shanghai = f"{hold_end.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M:%S}"
    with translation.override("zh-hans"):
        shown = uncertain.last_error.translated()
    assert f"等待至 {shanghai} Asia/Shanghai" in shown
    assert "UTC" not in shown and "UTC" not in uncertain.last_error


def test_messages_queued_for_a_paused_bot_expire_with_the_reason(
    agent, bridge_bot, bridge_group, queue_message, clock, settings
):
    settings.DELIVERY_MAX_QUEUE_AGE_HOURS = 24
    bridge_bot.paused_at, bridge_bot.paused_reason = clock(), "token refused"
    bridge_bot.save()
    old, fresh = queue_message(bridge_group, TEXT), queue_message(bridge_group, TEXT)
    Message.objects.filter(pk=old.pk).update(created_at=clock() - timedelta(hours=24, minutes=1))

    sweep(clock)

    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == "failed" and old.last_error.startswith("expired")
    assert "DELIVERY_MAX_QUEUE_AGE_HOURS" in old.last_error
    assert fresh.status == "queued"


@pytest.mark.parametrize(
    ("hours", "said"), [(1, "more than 1 hour while"), (1.5, "more than 1.5 hours while")]
)
def test_an_expiry_after_one_hour_says_hour(
    agent, bridge_bot, bridge_group, queue_message, clock, settings, hours, said
):
    settings.DELIVERY_MAX_QUEUE_AGE_HOURS = hours
    bridge_bot.paused_at, bridge_bot.paused_reason = clock(), "token refused"
    bridge_bot.save()
    old = queue_message(bridge_group, TEXT)
    Message.objects.filter(pk=old.pk).update(created_at=clock() - timedelta(hours=2))

    sweep(clock)

    old.refresh_from_db()
    assert said in old.last_error
    with translation.override("zh-hans"):
        assert f"超过 {hours:g} 小时" in old.last_error.translated()
        # What rows stored before the singular say, read back as stored.
        earlier = Reason(EARLIER_EXPIRED, hours="1")
        assert "超过 1 小时" in earlier.translated()


def test_a_fast_bot_gets_a_61st_of_its_rate_each_second(
    agent, bridge_bot, make_conversation, queue_message, clock
):
    bridge_bot.rate_limit_per_minute = 610  # 10 a second
    bridge_bot.save()
    groups = [make_conversation(bridge_bot, f"wrGroup{n}") for n in range(25)]
    for group in groups:
        queue_message(group, TEXT)
    clock.now = clock.now.replace(microsecond=0)

    assert len(claim_due_messages(clock)) == 10
    clock.advance(0.5)
    assert claim_due_messages(clock) == []  # the others wait, spread over the next second
    clock.advance(1.6)
    assert len(claim_due_messages(clock)) == 10


def test_a_send_answered_after_the_sweeper_took_it_back_still_counts_as_sent(
    wecom, wecom_group, queue_message, clock, settings
):
    message = queue_message(wecom_group, TEXT)
    claimed = claim_due_messages(clock, ids=[message.pk])
    (attempt,) = claimed
    attempt.result, attempt.converted = call_connector(attempt.message, clock())  # on the wire…
    clock.advance(settings.DELIVERY_SENDING_TIMEOUT + 1)
    sweep(clock)  # the worker looked lost: the robot message is uncertain now
    assert Message.objects.get(pk=message.pk).status == "uncertain"

    assert record(claimed, clock) == ["sent"]  # …and its answer arrives after all

    message.refresh_from_db()
    assert (message.status, message.last_error) == ("sent", "")
    assert list(message.attempts.values_list("outcome", flat=True)) == ["sent"]


def test_a_bot_over_its_pace_does_not_hold_up_another_bots_messages_behind_it(
    agent, bridge_bot, make_bot, make_conversation, queue_message, clock, settings
):
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0
    slow = [make_conversation(bridge_bot, f"wrSlow{n}") for n in range(120)]  # 20 a minute
    for group in slow:
        queue_message(group, TEXT)
    fast_bot = make_bot(
        name="fast", agent_url=agent.url, agent_token=agent.token, rate_limit_per_minute=10_000
    )
    fast = [queue_message(make_conversation(fast_bot, f"wrFast{n}"), TEXT) for n in range(5)]

    drained = drain_engine(clock)

    assert drained.results.count("sent") == 6  # one slot of the slow bot, and all of the fast
    assert {m.msgid for m in fast} <= set(agent.sent)
    assert drained.next_due is not None  # the slow bot's next slot


def test_a_lost_send_on_its_last_attempt_fails_saying_it_gave_up(
    agent, bridge_group, queue_message, clock, settings
):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    message = queue_message(bridge_group, TEXT)
    claim_due_messages(clock, ids=[message.pk])  # a worker claimed it, then died mid-call
    clock.advance(settings.DELIVERY_SENDING_TIMEOUT + 1)

    assert sweep(clock) == []  # nothing to send again

    message.refresh_from_db()
    assert message.status == "failed" and message.next_attempt_at is None
    assert message.last_error.startswith("gave up after 1 attempt: interrupted")
    assert message.attempts.get().outcome == "failed"
    assert agent.send_requests == []
