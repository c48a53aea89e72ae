"""Once an operator cancels or pauses an announcement, none of its messages goes out
(again), whatever the delivery engine was doing with them: waiting for a retry, waiting
in a worker's batch, or being sent. An attempt already on the wire is recorded as what
it did. Against the fake agent; `AgentWithOperator` acts while a send is on the wire."""

from functools import partial

import pytest

from announcements import operator_actions, scheduler
from announcements.fanout import fan_out
from announcements.models import AnnouncementRun
from announcements.progress import runs_progress
from audit.models import OperatorAction
from conversations.demo import DEMO_GROUPS
from conversations.secrets import generate_agent_token
from messaging.delivery import deliver
from messaging.delivery_claim import claim_due_messages
from messaging.delivery_send import RECHECK_SECONDS, send_and_record
from messaging.models import Message
from messaging.scheduled import release_due_messages
from tests.connectors.conftest import bridge_bot  # noqa: F401  (on the agent below)
from tests.fakes.agent import AgentWithOperator
from tests.messaging.conftest import SimClock, drain


@pytest.fixture
def agent():
    with AgentWithOperator(token=generate_agent_token(), groups=DEMO_GROUPS) as fake:
        yield fake


@pytest.fixture
def clock(settings) -> SimClock:
    settings.DELIVERY_CONVERSATION_MIN_GAP = 0
    return SimClock()


@pytest.fixture
def announced(bridge_bot, make_conversation, make_announcement):  # noqa: F811
    """An announcement to `count` groups, handed out: its messages are queued."""
    bridge_bot.rate_limit_per_minute = 6000
    bridge_bot.save(update_fields=["rate_limit_per_minute"])

    def announce(count: int = 1):
        groups = [make_conversation(bridge_bot, f"wrGroup{n}") for n in range(count)]
        announcement = make_announcement(bridge_bot, groups)
        (run_id,) = scheduler.start_due_announcements()
        fan_out(run_id)
        return announcement, list(Message.objects.filter(announcement_run_id=run_id).order_by("pk"))

    return announce


def refused(agent, message: Message, clock: SimClock, while_sending=None) -> str:
    """One attempt, which the agent refuses (503: not sent), the operator doing
    `while_sending` while it is on the wire; what `deliver` said."""
    agent.behaviour.http_status = 503
    agent.while_sending = while_sending
    try:
        return deliver(message.pk, clock).result
    finally:
        agent.behaviour.http_status = None


def later(clock: SimClock) -> None:
    """An hour on: every retry is due; the engine runs until nothing is waiting."""
    clock.advance(3600)
    drain(clock)


def outcomes(message: Message) -> list[str]:
    return list(message.attempts.order_by("pk").values_list("outcome", flat=True))


def reload(message: Message) -> Message:
    message.refresh_from_db()
    return message


def run_of(message: Message) -> AnnouncementRun:
    return AnnouncementRun.objects.get(pk=message.announcement_run_id)


# --- Waiting for a retry ------------------------------------------------------------


def test_a_message_waiting_for_its_retry_is_not_sent_once_its_announcement_is_cancelled(
    agent, announced, clock, superuser
):
    announcement, (message,) = announced()
    assert refused(agent, message, clock) == "retry"

    assert operator_actions.cancel(superuser, announcement) == 1
    later(clock)

    assert reload(message).status == "cancelled"
    assert outcomes(message) == ["retry"]  # its trace: the one refused attempt, no other
    assert len(agent.send_requests) == 1 and agent.sent == {}
    cancel = OperatorAction.objects.get(action="announcement.cancel")
    assert cancel.details == {"cancelled_messages": 1}


def test_a_message_waiting_for_its_retry_is_held_by_pause_and_sent_once_on_resume(
    agent, announced, clock, superuser
):
    announcement, (message,) = announced()
    assert refused(agent, message, clock) == "retry"

    operator_actions.pause(superuser, announcement)
    later(clock)
    assert reload(message).status == "scheduled" and agent.sent == {}

    operator_actions.resume(superuser, announcement)
    assert release_due_messages() == 1
    later(clock)

    assert reload(message).status == "sent"
    assert list(agent.sent) == [message.msgid] and len(agent.send_requests) == 2
    assert outcomes(message) == ["retry", "sent"]


# --- Waiting in a worker's batch ------------------------------------------------------


def test_messages_a_worker_claimed_but_had_not_sent_when_cancelled_are_not_sent(
    agent, announced, clock, superuser
):
    """A worker claims a batch and sends it one by one (slow sends keep the last ones
    waiting); the operator cancels meanwhile: only what is on the wire may go."""
    announcement, messages = announced(3)
    claimed = claim_due_messages(clock)
    assert len(claimed) == 3

    assert operator_actions.cancel(superuser, announcement) == 0  # all three are the worker's
    assert send_and_record(claimed, clock) == ["cancelled"] * 3
    later(clock)

    assert agent.send_requests == []
    assert [reload(m).status for m in messages] == ["cancelled"] * 3
    assert [(m.attempt_count, outcomes(m)) for m in messages] == [(0, [])] * 3  # never tried
    progress = runs_progress([run_of(messages[0])])[messages[0].announcement_run_id]
    assert (progress["cancelled"], progress["finished"]) == (3, False)


def test_messages_a_worker_claimed_but_had_not_sent_when_paused_go_out_once_on_resume(
    agent, announced, clock, superuser
):
    announcement, messages = announced(3)
    claimed = claim_due_messages(clock)

    operator_actions.pause(superuser, announcement)
    assert send_and_record(claimed, clock) == ["scheduled"] * 3
    later(clock)
    assert agent.send_requests == []
    assert run_of(messages[0]).status == AnnouncementRun.Status.PAUSED

    operator_actions.resume(superuser, announcement)
    assert release_due_messages() == 3
    later(clock)

    assert [reload(m).status for m in messages] == ["sent"] * 3
    assert sorted(agent.sent) == sorted(m.msgid for m in messages)
    assert len(agent.send_requests) == 3
    assert [outcomes(m) for m in messages] == [["sent"]] * 3


@pytest.mark.django_db(transaction=True)
def test_a_slow_batch_cancelled_during_its_first_send_sends_nothing_more(
    agent, announced, clock, superuser
):
    announcement, messages = announced(3)
    agent.behaviour.delay = RECHECK_SECONDS + 0.1  # each answer: a batch read again
    agent.while_sending = partial(operator_actions.cancel, superuser, announcement)

    statuses = send_and_record(claim_due_messages(clock), clock)

    assert agent.action_errors == []
    assert sorted(statuses) == ["cancelled", "cancelled", "sent"]
    assert [reload(m).status for m in messages] == ["sent", "cancelled", "cancelled"]
    assert list(agent.sent) == [messages[0].msgid] and len(agent.send_requests) == 1


# --- On the wire ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_attempt_refused_while_its_announcement_was_cancelled_is_not_tried_again(
    agent, announced, clock, superuser
):
    announcement, (message,) = announced()
    cancel = partial(operator_actions.cancel, superuser, announcement)

    assert refused(agent, message, clock, while_sending=cancel) == "cancelled"
    later(clock)

    assert agent.action_errors == []
    message = reload(message)
    assert message.status == "cancelled"
    assert message.last_error.endswith(
        "not tried again: cancelled while this attempt was in flight"
    )
    assert outcomes(message) == ["retry"]
    assert len(agent.send_requests) == 1 and agent.sent == {}
    assert run_of(message).status == AnnouncementRun.Status.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_an_attempt_refused_while_its_announcement_was_paused_is_held_then_sent_once(
    agent, announced, clock, superuser
):
    announcement, (message,) = announced()
    pause = partial(operator_actions.pause, superuser, announcement)

    assert refused(agent, message, clock, while_sending=pause) == "scheduled"
    later(clock)
    assert reload(message).status == "scheduled" and agent.sent == {}
    assert "held: paused while this attempt was in flight" in message.last_error

    operator_actions.resume(superuser, announcement)
    assert release_due_messages() == 1
    later(clock)

    assert agent.action_errors == []
    assert reload(message).status == "sent"
    assert list(agent.sent) == [message.msgid] and len(agent.send_requests) == 2


@pytest.mark.django_db(transaction=True)
def test_an_attempt_that_went_out_while_its_announcement_was_cancelled_is_sent(
    agent, announced, clock, superuser
):
    announcement, (message,) = announced()
    agent.while_sending = partial(operator_actions.cancel, superuser, announcement)

    assert deliver(message.pk, clock).result == "sent"

    assert agent.action_errors == []
    assert reload(message).status == "sent" and list(agent.sent) == [message.msgid]
    assert outcomes(message) == ["sent"]
    run = run_of(message)
    progress = runs_progress([run])[run.pk]
    # Cancelled while its last message was in flight, which went out: nothing was stopped.
    assert (run.status, progress["sent"], progress["finished"]) == ("cancelled", 1, True)


@pytest.mark.django_db(transaction=True)
def test_an_attempt_that_may_have_gone_out_when_cancelled_is_uncertain_not_cancelled(
    agent, announced, clock, superuser, settings
):
    """The agent sent it but answered too late: the bridge would retry (the agent drops
    the repeat), but a retry after a cancel would send one that never left. Nobody
    knows whether it left, so an operator checks: uncertain, never called cancelled."""
    settings.BRIDGE_READ_TIMEOUT = 0.3
    agent.behaviour.delay = 0.6
    announcement, (message,) = announced()
    agent.while_sending = partial(operator_actions.cancel, superuser, announcement)

    assert deliver(message.pk, clock).result == "uncertain"
    agent.behaviour.delay = 0
    later(clock)

    assert agent.action_errors == []
    message = reload(message)
    assert message.status == "uncertain"
    assert "cancelled while this attempt was in flight" in message.last_error
    assert list(agent.sent) == [message.msgid] and len(agent.send_requests) == 1
