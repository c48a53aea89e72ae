"""A worker's batch of slow sends outlasts its claim's lease: the worker renews the leases
of the messages it has not sent yet as it goes, so the sweeper takes back only what a
lost worker held, never a live worker's messages (a WeCom one would be flagged uncertain
and hold its conversation; a bridge one queued again while still being sent)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from conversations.secrets import generate_agent_token
from messaging import delivery_actions, outbox, sweeper
from messaging.delivery_claim import claim_due_messages
from messaging.delivery_send import keep_leases, send_and_record
from messaging.models import Message
from messaging.sweeper import recover_lost_sends
from tests.fakes.agent import AgentWithOperator
from tests.fakes.wecom import FakeWeCom

TEXT = {"msgtype": "text", "text": {"content": "hello"}}
KEYS = ["key-a", "key-b", "key-c", "key-d"]
# Each send takes this long (simulated): the batch of four lasts 200 s, its lease 120 s.
SEND_SECONDS = 50


class SlowWeCom(FakeWeCom):
    """The robot API; after each send, before it answers, runs `while_sending` on its own
    thread and database connection (the test needs `transaction=True`)."""

    def __init__(self, keys: set[str]):
        super().__init__(keys=keys)
        self.while_sending: Callable[[], object] | None = None
        self.action_errors: list[BaseException] = []

    def answer(self, key: str, raw: bytes) -> tuple[int, str]:
        answer = super().answer(key, raw)
        if self.while_sending is not None:
            try:
                self.while_sending()
            except Exception as error:  # the test's own to report
                self.action_errors.append(error)
            finally:
                connection.close()
        return answer


def attempts_of(message: Message) -> list[str]:
    return list(message.attempts.order_by("pk").values_list("outcome", flat=True))


def slow_sends_and_sweeps(clock, taken_back: list) -> Callable[[], None]:
    """Each send takes SEND_SECONDS, and the sweeper runs while it is on the wire; after
    each sweep, `taken_back` gets the statuses of the messages neither sending nor sent
    (the sweeper's: uncertain, or queued again)."""

    def send_takes_long():
        clock.advance(SEND_SECONDS)
        recover_lost_sends(clock())
        others = Message.objects.exclude(status__in=["sending", "sent"])
        taken_back.append(list(others.values_list("status", flat=True)))

    return send_takes_long


@pytest.fixture
def slow_wecom(settings):
    with SlowWeCom(keys=set(KEYS)) as fake:
        settings.WECOM_API_BASE = fake.base_url
        yield fake


@pytest.fixture
def robot_batch(wecom_bot, make_conversation, queue_message):
    """One message to each of four robots (keys), all due in one claim."""
    return [
        queue_message(make_conversation(wecom_bot, f"wr{key}", robot_key=key), TEXT) for key in KEYS
    ]


@pytest.mark.django_db(transaction=True)
def test_a_robot_batch_longer_than_its_lease_is_sent_once_and_none_flagged_uncertain(
    slow_wecom, robot_batch, clock, settings
):
    claimed = claim_due_messages(clock)
    assert len(claimed) == len(KEYS)
    assert SEND_SECONDS * len(KEYS) > settings.DELIVERY_SENDING_TIMEOUT
    taken_back: list = []
    slow_wecom.while_sending = slow_sends_and_sweeps(clock, taken_back)

    assert send_and_record(claimed, clock) == ["sent"] * len(KEYS)

    assert slow_wecom.action_errors == [] and taken_back == [[]] * len(KEYS)
    assert sorted(key for key, _ in slow_wecom.messages) == KEYS  # each exactly once
    for message in robot_batch:
        message.refresh_from_db()
        assert (message.status, message.last_error, attempts_of(message)) == ("sent", "", ["sent"])


@pytest.fixture
def agent():
    with AgentWithOperator(token=generate_agent_token()) as fake:
        yield fake


@pytest.mark.django_db(transaction=True)
def test_a_bridge_batch_longer_than_its_lease_is_not_queued_again_while_sent(
    agent, bridge_bot, make_conversation, queue_message, clock
):
    bridge_bot.rate_limit_per_minute = 6000  # all leave in one claim
    bridge_bot.save(update_fields=["rate_limit_per_minute"])
    messages = [queue_message(make_conversation(bridge_bot, f"wrLease{n}"), TEXT) for n in range(4)]
    claimed = claim_due_messages(clock)
    assert len(claimed) == len(messages)
    taken_back: list = []
    slow = slow_sends_and_sweeps(clock, taken_back)

    def send_takes_long_every_time():
        slow()
        agent.while_sending = send_takes_long_every_time  # it runs once: again

    agent.while_sending = send_takes_long_every_time

    assert send_and_record(claimed, clock) == ["sent"] * len(messages)

    assert agent.action_errors == [] and taken_back == [[]] * len(messages)
    assert len(agent.send_requests) == len(messages)
    for message in messages:
        message.refresh_from_db()
        assert (message.status, attempts_of(message)) == ("sent", ["sent"])


def test_the_sweeper_still_takes_back_a_batch_whose_worker_died(
    wecom, robot_batch, clock, settings
):
    """Its renewed leases run out too: then the messages may have gone out (uncertain)."""
    claimed = claim_due_messages(clock)
    clock.advance(settings.DELIVERY_SENDING_TIMEOUT - 5)
    assert keep_leases(claimed, clock) == {m.pk for m in robot_batch}  # then it died

    clock.advance(settings.DELIVERY_SENDING_TIMEOUT - 1)
    assert recover_lost_sends(clock()) == []
    assert Message.objects.filter(status="sending").count() == len(KEYS)
    clock.advance(2)
    recover_lost_sends(clock())

    for message in robot_batch:
        message.refresh_from_db()
        assert message.status == "uncertain"
        assert message.last_error.startswith("interrupted")
        assert attempts_of(message) == ["uncertain"]
    assert wecom.messages == []


def test_a_renewal_leaves_a_message_the_sweeper_took_back_to_it(
    wecom, robot_batch, clock, settings
):
    """The worker stalled past its lease: what the sweeper took back is not its own again."""
    claimed = claim_due_messages(clock)
    clock.advance(settings.DELIVERY_SENDING_TIMEOUT + 1)
    recover_lost_sends(clock())

    assert send_and_record(claimed, clock) == ["skipped"] * len(KEYS)

    assert wecom.messages == []
    assert set(Message.objects.values_list("status", flat=True)) == {"uncertain"}


def test_a_sweep_that_read_a_lost_message_leaves_its_claim_after_an_operator_retry(
    wecom, wecom_group, queue_message, clock, settings, superuser, monkeypatch
):
    """Between the sweep's read and its take-back, another sweep took the message back,
    an operator retried it (its attempt count starts again) and a worker claimed it:
    that claim's lease is not over, so the message is the worker's to send."""
    message = queue_message(wecom_group, TEXT)
    claim_due_messages(clock)  # its worker dies
    clock.advance(settings.DELIVERY_SENDING_TIMEOUT + 1)
    fresh: list = []
    connector_class = sweeper.connector_class

    def meanwhile(name: str):  # the sweep has read the lost messages
        if not fresh:
            fresh.append(None)
            recover_lost_sends(clock())  # another sweep
            assert delivery_actions.retry_now(Message.objects.get(pk=message.pk), superuser)
            fresh[:] = claim_due_messages(clock, ids=[message.pk])
            assert fresh[0].message.attempt_count == 1  # as the one read
        return connector_class(name)

    monkeypatch.setattr(sweeper, "connector_class", meanwhile)
    recover_lost_sends(clock())

    assert send_and_record(fresh, clock) == ["sent"]
    message.refresh_from_db()
    assert (message.status, attempts_of(message)) == ("sent", ["uncertain", "sent"])
    assert len(wecom.messages) == 1


def test_a_sweep_that_read_a_dead_workers_claim_leaves_the_next_claim_of_its_message(
    wecom, wecom_group, queue_message, clock, monkeypatch
):
    """Between the sweep's read of the open attempts and its look at their processes, the
    claim it read ended without counting an attempt (held for a daily cap, or kept back)
    and a live worker claimed the message again: the same attempt count, another process."""
    message = queue_message(wecom_group, TEXT)
    claim_due_messages(clock)
    message.attempts.update(worker="gone-host:1")  # its worker: the one that dies
    fresh: list = []

    def meanwhile(worker: str) -> bool:  # the sweep has read the open attempts
        if not fresh:
            message.attempts.update(outcome="retry")  # the claim's end, recorded as a hold
            Message.objects.filter(pk=message.pk).update(
                status="queued", attempt_count=0, next_attempt_at=clock()
            )
            clock.advance(60)  # past its conversation's pace
            fresh[:] = claim_due_messages(clock, ids=[message.pk])
            assert fresh[0].message.attempt_count == 1  # as the one read
        return worker == "gone-host:1"

    monkeypatch.setattr(outbox, "holder_gone", meanwhile)
    recover_lost_sends(clock())

    assert Message.objects.get(pk=message.pk).next_attempt_at == fresh[0].message.next_attempt_at
    assert send_and_record(fresh, clock) == ["sent"]
    assert attempts_of(message) == ["retry", "sent"]
    assert len(wecom.messages) == 1
