"""What a worker does with a message it claimed when, before or during the call, the
message is cancelled, its bot paused, or the message taken back by the sweeper: only an
attempt already on the wire goes out, and its answer is recorded as what happened.
(Announcements' cancel and pause: tests/announcements/test_stops_in_flight.py.)"""

import pytest
from django.utils import timezone

from conversations.demo import DEMO_GROUPS
from conversations.pauses import pause_bot, resume_bot
from conversations.secrets import generate_agent_token
from messaging import delivery_actions
from messaging.delivery import deliver
from messaging.delivery_claim import claim_due_messages
from messaging.delivery_send import send_and_record
from messaging.models import Message
from messaging.sweeper import sweep
from tests.fakes.agent import AgentWithOperator
from tests.messaging.conftest import drain

TEXT = {"msgtype": "text", "text": {"content": "hello"}}


@pytest.fixture
def agent():
    with AgentWithOperator(token=generate_agent_token(), groups=DEMO_GROUPS) as fake:
        yield fake


def outcomes(message: Message) -> list[str]:
    return list(message.attempts.order_by("pk").values_list("outcome", flat=True))


def test_a_message_waiting_for_its_retry_is_not_sent_once_an_operator_cancels_it(
    agent, bridge_group, queue_message, clock, superuser
):
    message = queue_message(bridge_group, TEXT)
    agent.behaviour.http_status = 503
    assert deliver(message.pk, clock).result == "retry"
    agent.behaviour.http_status = None

    assert delivery_actions.cancel(message, superuser)
    clock.advance(3600)
    drain(clock)

    message.refresh_from_db()
    assert message.status == "cancelled" and outcomes(message) == ["retry"]
    assert len(agent.send_requests) == 1 and agent.sent == {}


def test_messages_claimed_before_their_bot_was_paused_wait_for_its_resume(
    agent, bridge_bot, bridge_group, make_conversation, queue_message, clock, superuser
):
    bridge_bot.rate_limit_per_minute = 6000  # both leave in one claim
    bridge_bot.save(update_fields=["rate_limit_per_minute"])
    other = make_conversation(bridge_bot, "wrOther")
    messages = [queue_message(bridge_group, TEXT), queue_message(other, TEXT)]
    claimed = claim_due_messages(clock)
    assert len(claimed) == 2

    pause_bot(bridge_bot.pk, "risk control", timezone.now())
    assert send_and_record(claimed, clock) == ["paused", "paused"]

    assert agent.send_requests == []
    for message in messages:
        message.refresh_from_db()
        assert (message.status, message.attempt_count, outcomes(message)) == ("queued", 0, [])
    bridge_bot.refresh_from_db()
    assert resume_bot(bridge_bot, superuser) == 2
    drain(clock)
    assert sorted(agent.sent) == sorted(m.msgid for m in messages)
    assert len(agent.send_requests) == 2


def test_a_message_taken_back_from_a_slow_worker_and_cancelled_is_not_sent_by_it(
    agent, bridge_group, queue_message, clock, settings, superuser
):
    """The worker's batch took longer than its lease: the sweeper took the message
    back, and an operator cancelled it. The worker, reaching it at last, leaves it."""
    message = queue_message(bridge_group, TEXT)
    claimed = claim_due_messages(clock, ids=[message.pk])
    clock.advance(settings.DELIVERY_SENDING_TIMEOUT + 1)
    sweep(clock)
    assert delivery_actions.cancel(message, superuser)

    assert send_and_record(claimed, clock) == ["skipped"]

    message.refresh_from_db()
    assert message.status == "cancelled" and agent.send_requests == []
    assert outcomes(message) == ["retry"]  # the interrupted attempt, completed by the sweeper


@pytest.mark.django_db(transaction=True)
def test_a_send_on_the_wire_when_taken_back_and_cancelled_is_recorded_sent(
    agent, bridge_group, queue_message, clock, settings, superuser
):
    """It did go out: `sent`, not the `cancelled` an operator chose meanwhile (the
    cancel found it queued again after the sweeper took it back)."""
    message = queue_message(bridge_group, TEXT)

    def lease_runs_out_then_operator_cancels():
        clock.advance(settings.DELIVERY_SENDING_TIMEOUT + 1)
        sweep(clock)
        assert delivery_actions.cancel(message, superuser)

    agent.while_sending = lease_runs_out_then_operator_cancels
    assert deliver(message.pk, clock).result == "sent"

    assert agent.action_errors == []
    message.refresh_from_db()
    assert (message.status, message.last_error) == ("sent", "")
    assert message.upstream_msgid == agent.sent[message.msgid].msgid
    assert outcomes(message) == ["sent"]


@pytest.mark.parametrize(
    "stop, status", [("cancelled", "uncertain"), ("scheduled", "scheduled")], ids=["cancel", "hold"]
)
def test_a_stopped_message_whose_worker_died_mid_call_is_not_sent_again(
    agent, bridge_group, queue_message, clock, settings, stop, status
):
    """Taken back, it may have gone out: held, the agent drops the repeat on resume;
    cancelled, an operator checks the chat (uncertain), as a retry could send it."""
    message = queue_message(bridge_group, TEXT)
    claim_due_messages(clock, ids=[message.pk])  # a worker claimed it, then died mid-call
    assert delivery_actions.stop(Message.objects.filter(pk=message.pk), stop) == (0, 1)
    clock.advance(settings.DELIVERY_SENDING_TIMEOUT + 1)

    assert sweep(clock) == []
    drain(clock)

    message.refresh_from_db()
    assert (message.status, message.stop_requested) == (status, "")
    assert message.last_error.startswith("interrupted")
    assert agent.send_requests == []
