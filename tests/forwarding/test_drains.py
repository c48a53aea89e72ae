"""forwarding/drains.py: an endpoint's due retries wake a worker per batch, not per delivery,
and one wake-up drains the backlog once the endpoint is back. The task messages counted
are those on the test broker; a worker's part is played by running each message's task
here, as the worker would."""

from dataclasses import replace
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from devtools.inbound_messages import store_inbound_texts
from forwarding.drains import (
    DRAINS_PER_ENDPOINT,
    SWEEP_GRACE,
    drain_endpoints,
    forward_and_drain,
    sweep_due_deliveries,
)
from forwarding.endpoints import create_deliveries, reenable_endpoint
from forwarding.models import WebhookAttempt, WebhookDelivery
from forwarding.tasks import forward_endpoint_deliveries, forward_messages
from forwarding.webhook_delivery import claim_due_deliveries
from messaging.outbox import CLAIM_BATCH, FORWARDING_SCHEDULE
from tests.messaging.support import TaskMessage, purge_broker, take_task_messages

WAITING = 6 * CLAIM_BATCH


def inbound_messages(bot, count: int) -> list[int]:
    """`count` inbound messages of the bot, stored and fanned out to its endpoints (what
    /api/callback and the worker it wakes do); the deliveries' ids."""
    stored = store_inbound_texts(bot, count, prefix=bot.name)
    return create_deliveries([message.pk for message in stored])


def endpoint_wake_ups(*endpoint_ids: int, expected: int = 0) -> list[TaskMessage]:
    """The drain wake-ups of these endpoints on forwarding's queue, taken off it: read until
    `expected` of them came, then on while more come."""

    def mine(messages):
        return [
            m
            for m in messages
            if m.task == forward_endpoint_deliveries.name and set(endpoint_ids) & set(m.args[0])
        ]

    taken = take_task_messages("forwarding", wait=30, until=lambda m: len(mine(m)) >= expected)
    while more := take_task_messages("forwarding", wait=0.5):
        taken += more
    return mine(taken)


def run_as_a_worker(endpoint_id: int, wake_ups: list[TaskMessage]) -> tuple[int, list]:
    """Run these wake-ups of the endpoint's drain, and the ones they hand on at once, as a
    worker would; returns the attempts made and the wake-ups on a countdown (for later)."""
    made, later = 0, []
    while wake_ups:
        for wake_up in wake_ups:
            if wake_up.eta:
                later.append(wake_up)
            else:
                made += forward_endpoint_deliveries(*wake_up.args)
        wake_ups = endpoint_wake_ups(endpoint_id)
    return made, later


@pytest.fixture
def empty_queue():
    purge_broker()  # wake-ups left by earlier tests of this process
    yield
    purge_broker()


@pytest.fixture
def down_endpoint(make_bot, receiver, monkeypatch):
    """A bot whose one endpoint answers 500. Each batch's answers are written together,
    not every RECORD_EVERY_SECONDS (which a loaded machine would make more often)."""
    monkeypatch.setattr("forwarding.webhook_delivery.RECORD_EVERY_SECONDS", 3600)
    receiver.respond(500, b"down")
    return make_bot(name="down", webhook_url=receiver.url("/hook")).webhook_endpoints.get()


def test_an_endpoint_down_with_many_waiting_deliveries_wakes_a_worker_per_batch_not_per_retry(
    transactional_db, down_endpoint, receiver, empty_queue
):
    inbound_messages(down_endpoint.bot, WAITING)
    # Time stands still while the worker goes through them: no retry falls due meanwhile.
    swept_at = timezone.now() + SWEEP_GRACE + timedelta(seconds=1)
    with time_machine.travel(swept_at, tick=False) as traveller:
        sweep_due_deliveries()
        swept = endpoint_wake_ups(down_endpoint.pk, expected=DRAINS_PER_ENDPOINT)
        assert len(swept) == DRAINS_PER_ENDPOINT

        made, retries = run_as_a_worker(down_endpoint.pk, swept)

        assert made == len(receiver.requests) == WAITING  # each tried once, each failed
        # A wake-up for the second in which a batch's retries are all due; the batches
        # share theirs (the jitter of 5 s spreads them over one or two seconds).
        assert 1 <= len(retries) <= 2
        # The endpoint is back when the retries are due.
        receiver.respond(200, b"ok")
        traveller.shift(timedelta(seconds=FORWARDING_SCHEDULE.delays[0] * 1.2))
        made, later = run_as_a_worker(down_endpoint.pk, [replace(r, eta=None) for r in retries])

    assert made == WAITING and later == []
    assert WebhookDelivery.objects.filter(status="delivered").count() == WAITING
    first, again = receiver.requests[:WAITING], receiver.requests[WAITING:]
    assert sorted(r.headers["webhook-id"] for r in again) == sorted(
        r.headers["webhook-id"] for r in first
    )
    attempts = WebhookAttempt.objects.values_list("number", "outcome")
    assert sorted(attempts) == [(1, "failure")] * WAITING + [(2, "success")] * WAITING


def test_re_enabling_an_endpoint_wakes_one_drain_for_everything_that_waited(
    transactional_db, down_endpoint, receiver, empty_queue
):
    inbound_messages(down_endpoint.bot, WAITING)
    down_endpoint.disabled_at = timezone.now()
    down_endpoint.save()
    receiver.respond(200, b"ok")

    assert reenable_endpoint(down_endpoint) == WAITING

    woken = endpoint_wake_ups(down_endpoint.pk, expected=1)
    assert len(woken) == 1
    assert run_as_a_worker(down_endpoint.pk, woken) == (WAITING, [])
    assert WebhookDelivery.objects.filter(status="delivered").count() == WAITING


def test_a_sweep_wakes_each_endpoint_with_due_deliveries_not_each_delivery(
    transactional_db, make_bot, receiver, empty_queue
):
    busy = make_bot(name="busy", webhook_url=receiver.url("/busy")).webhook_endpoints.get()
    quiet = make_bot(name="quiet", webhook_url=receiver.url("/quiet")).webhook_endpoints.get()
    inbound_messages(busy.bot, 3 * CLAIM_BATCH)
    inbound_messages(quiet.bot, 1)

    with time_machine.travel(timezone.now() + SWEEP_GRACE + timedelta(seconds=1)):
        assert sweep_due_deliveries() == 3 * CLAIM_BATCH + 1
        woken = endpoint_wake_ups(busy.pk, quiet.pk, expected=DRAINS_PER_ENDPOINT + 1)
        assert sorted(w.args for w in woken) == [[[busy.pk]]] * DRAINS_PER_ENDPOINT + [[[quiet.pk]]]

        # While a worker drains `busy` (its claim holds a batch), the sweep leaves it to it.
        claim_due_deliveries(endpoint_id=busy.pk)
        sweep_due_deliveries()
        woken = endpoint_wake_ups(busy.pk, quiet.pk, expected=1)
        assert [w.args for w in woken] == [[[quiet.pk]]]


def test_a_drain_takes_an_endpoints_longest_due_first_and_hands_on_when_its_time_is_up(
    make_bot, receiver
):
    endpoint = make_bot(webhook_url=receiver.url("/hook")).webhook_endpoints.get()
    ids = inbound_messages(endpoint.bot, CLAIM_BATCH + 5)
    now = timezone.now()
    for age, pk in enumerate(ids):  # the last one is the longest due
        WebhookDelivery.objects.filter(pk=pk).update(next_attempt_at=now - timedelta(seconds=age))

    drained = drain_endpoints([endpoint.pk, endpoint.pk], seconds=0)

    assert (drained.attempts, drained.more) == (CLAIM_BATCH, [endpoint.pk])
    waiting = WebhookDelivery.objects.filter(status="pending").values_list("pk", flat=True)
    assert sorted(waiting) == sorted(ids[:5])
    assert drain_endpoints(drained.more).attempts == 5


def test_while_the_cache_is_down_each_batch_of_failures_still_wakes_its_retries(
    transactional_db, down_endpoint, receiver, empty_queue, cache_down
):
    inbound_messages(down_endpoint.bot, WAITING)
    swept_at = timezone.now() + SWEEP_GRACE + timedelta(seconds=1)
    with time_machine.travel(swept_at, tick=False):
        made = drain_endpoints([down_endpoint.pk]).attempts

    assert made == WAITING
    retries = endpoint_wake_ups(down_endpoint.pk, expected=WAITING // CLAIM_BATCH)
    assert len(retries) == WAITING // CLAIM_BATCH  # one a recorded batch, none shared


class OneRoundClock:
    """`time` for forwarding.drains: a drain's time is up after its first round."""

    def __init__(self):
        self.readings = 0

    def monotonic(self) -> float:
        self.readings += 1
        return 0.0 if self.readings <= 2 else 1e9  # its deadline, its first check; then later


def test_a_fan_out_drain_whose_time_is_up_hands_on_to_a_fresh_wake_up(
    make_bot, receiver, empty_queue, monkeypatch
):
    # Callbacks of a burst publish a wake-up only while none waits: the drain goes on by itself.
    bot = make_bot(webhook_url=receiver.url("/hook"))
    store_inbound_texts(bot, CLAIM_BATCH + 5, prefix=bot.name)  # waiting for their fan-out

    with monkeypatch.context() as patched:
        patched.setattr("forwarding.drains.time", OneRoundClock())
        assert forward_and_drain([]) == CLAIM_BATCH

    def hand_ons(messages):
        # The drain's hand-on names no messages; wake-ups that earlier tests of this process
        # published after their commits name theirs, and may still arrive (CI saw three).
        return [m for m in messages if m.task == forward_messages.name and m.args == [[]]]

    (hand_on,) = hand_ons(take_task_messages("forwarding", wait=30, until=hand_ons))
    assert forward_messages(*hand_on.args) == 5  # the rest, and no time was up
    assert not hand_ons(take_task_messages("forwarding", wait=0.5))
    assert len(receiver.wait_for(CLAIM_BATCH + 5)) == CLAIM_BATCH + 5
