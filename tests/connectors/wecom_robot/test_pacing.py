"""How fast a group robot bot's messages leave: each group's robot takes 20 a minute
(shared/spec/wecom.md section 1), so the pace is kept per robot key, not per bot.

The engine runs on the simulated clock (`run_queue`); the times compared are the
messages' `sent_at`, which it stamps with that clock.
"""

from itertools import pairwise

import pytest

from connectors.wecom_robot import ROBOT_GAP_SECONDS
from conversations.bot_changes import create_bot
from messaging.models import Message
from tests.fakes.wecom import FakeWeCom


def text(n: int) -> dict:
    return {"msgtype": "text", "text": {"content": f"#{n}"}}


def sent_times(conversation) -> list[float]:
    """Seconds since the first send of each of the conversation's messages, in their order."""
    times = list(
        Message.objects.filter(conversation=conversation)
        .order_by("pk")
        .values_list("sent_at", flat=True)
    )
    return [(at - times[0]).total_seconds() for at in times]


@pytest.fixture(autouse=True)
def _no_general_gap(settings):
    # Only the robot's own gap: the general minimum (1 s) would hide a missing one.
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0


def test_two_messages_to_one_group_are_3_s_apart_however_high_the_bots_rate(
    wecom, wecom_bot, wecom_group, queue_message, run_queue
):
    wecom_bot.rate_limit_per_minute = 100_000  # an operator raised it: the group stays at 20
    wecom_bot.save()
    for n in range(4):
        queue_message(wecom_group, text(n))

    run_queue()

    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    times = sent_times(wecom_group)
    assert all(b - a >= ROBOT_GAP_SECONDS for a, b in pairwise(times)), times
    assert ROBOT_GAP_SECONDS == 3


def test_groups_are_not_held_by_each_others_gap(
    wecom, wecom_bot, make_conversation, queue_message, run_queue, clock
):
    sales = make_conversation(wecom_bot, "wrSales", robot_key="key-sales")
    ops = make_conversation(wecom_bot, "wrOps", robot_key="key-ops")
    for n in range(2):
        queue_message(sales, text(n))
        queue_message(ops, text(n))

    run_queue()

    firsts = [
        Message.objects.filter(conversation=c).order_by("pk")[0].sent_at for c in (sales, ops)
    ]
    assert abs((firsts[1] - firsts[0]).total_seconds()) < 1  # one slot of the bot apart
    assert clock.elapsed < 2 * ROBOT_GAP_SECONDS  # both second messages after one gap
    assert len(wecom.messages) == 4


def test_two_groups_entered_with_one_robot_key_share_its_pace(
    wecom, wecom_bot, make_conversation, queue_message, run_queue
):
    # One robot (one key): WeCom counts its 20 a minute whichever group botadmin names.
    first = make_conversation(wecom_bot, "wrSales", robot_key="key-sales")
    second = make_conversation(wecom_bot, "wrSalesAgain", robot_key="key-sales")
    messages = [queue_message(conversation, text(0)) for conversation in (first, second)]

    run_queue()

    one, other = (Message.objects.get(pk=m.pk).sent_at for m in messages)
    assert abs((other - one).total_seconds()) >= ROBOT_GAP_SECONDS


def test_a_new_robot_bot_posts_to_60_groups_in_seconds_not_3_minutes(
    settings, queue_message, make_conversation, run_queue, clock
):
    keys = [f"key-{n}" for n in range(60)]
    with FakeWeCom(keys=set(keys)) as wecom:
        settings.WECOM_API_BASE = wecom.base_url
        bot = create_bot(None, "notices", "wecom_robot", {})
        groups = [make_conversation(bot, f"wr{n}", robot_key=key) for n, key in enumerate(keys)]
        for group in groups:
            queue_message(group, text(0))

        run_queue()

    assert len(wecom.messages) == 60
    assert clock.elapsed < 10  # at 20 a minute for the whole bot: 3 minutes
