"""A busy agent, or the proxy in front of it, says when to come back (`Retry-After`, in
seconds or as an HTTP-date): docs/bridge-protocol.md section 1, against the real fake
agent."""

from datetime import timedelta
from email.utils import format_datetime

import pytest
import time_machine
from django.utils import timezone

from messaging.delivery import deliver
from messaging.delivery import drain as drain_engine
from messaging.outbox import RETRY_AFTER_AT_MOST
from tests.messaging.conftest import drain

TEXT = {"msgtype": "text", "text": {"content": "hello"}}
SCHEDULE = (30 * 0.8, 30 * 1.2)  # DELIVERY_RETRY_BASE_DELAY's first wait, ±20 %


def http_date(seconds_from_now: float, clock) -> str:
    return format_datetime(clock() + timedelta(seconds=seconds_from_now), usegmt=True)


def wait_asked(agent, bridge_group, queue_message, clock, status, retry_after) -> float:
    agent.behaviour.http_status = status
    agent.behaviour.retry_after = retry_after
    message = queue_message(bridge_group, TEXT)
    assert deliver(message.pk, clock).result == "retry"
    message.refresh_from_db()
    assert message.status == "queued"
    return (message.next_attempt_at - clock()).total_seconds()


def test_an_agent_behind_a_proxy_answering_503_until_a_date_is_tried_again_at_that_date(
    settings, agent, bridge_group, queue_message, clock
):
    settings.DELIVERY_RETRY_BASE_DELAY = 30
    back_at = clock() + timedelta(minutes=20)
    asked = format_datetime(back_at, usegmt=True)

    wait = wait_asked(agent, bridge_group, queue_message, clock, 503, asked)

    assert 20 * 60 - 2 <= wait <= 20 * 60  # the date has whole seconds
    clock.now = back_at - timedelta(seconds=3)
    drain_engine(clock)
    assert len(agent.send_requests) == 1  # not before the date the agent asked for
    # The maintenance overran: the proxy still names the date, now past, which asks
    # for no wait of its own; the schedule's second wait (60 s ±20 %) follows.
    with time_machine.travel(back_at + timedelta(seconds=1), tick=False):
        clock.now = timezone.now()
        drain_engine(clock)
    assert len(agent.send_requests) == 2
    message = bridge_group.messages.get()
    assert message.status == "queued"
    assert 48 <= (message.next_attempt_at - clock()).total_seconds() <= 72
    agent.behaviour.http_status = None
    drain(clock)
    assert len(agent.sent) == 1


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (502, "date:600", (598, 600)),
        (429, "date:86400", (RETRY_AFTER_AT_MOST, RETRY_AFTER_AT_MOST)),  # "tomorrow": 1 h
        (503, "86400", (RETRY_AFTER_AT_MOST, RETRY_AFTER_AT_MOST)),
        (503, "1e999", SCHEDULE),  # infinity is no wait anyone meant: the schedule's
    ],
)
def test_an_agents_retry_after_postpones_the_next_try_up_to_an_hour(
    settings, agent, bridge_group, queue_message, clock, status, retry_after, expected
):
    settings.DELIVERY_RETRY_BASE_DELAY = 30
    if retry_after.startswith("date:"):
        retry_after = http_date(float(retry_after.removeprefix("date:")), clock)

    wait = wait_asked(agent, bridge_group, queue_message, clock, status, retry_after)

    assert expected[0] <= wait <= expected[1]
