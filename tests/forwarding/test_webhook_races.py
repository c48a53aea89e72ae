"""Forwarding workers side by side: interleavings that once lost answers or posted twice.

Each test forces its interleaving (a worker stopped at a chosen point, another worker
run meanwhile), so it fails every time the race is there, not once in a while."""

import json
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from forwarding import replay
from forwarding.drains import sweep_due_deliveries
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from forwarding.webhook_delivery import CLAIM_LEASE, claim_due_deliveries, forward_claimed
from messaging.outbox import IN_FLIGHT, INTERRUPTED, this_pid_namespace
from tests.db_faults import updates_wait_at_gate
from tests.messaging.support import callback_body, create_pending_deliveries

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks: SQLite runs writing transactions one after the other, no deadlock",
)


def _ended_process() -> str:
    """The `worker` of an attempt whose process is gone from this host (killed mid-POST)."""
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    return f"{this_pid_namespace()}:{ended.pid}"


@postgresql_only
def test_workers_recording_failures_for_the_same_endpoints_in_opposite_orders_both_record(
    transactional_db, hooked_bot, receiver, post_callback, monkeypatch
):
    # Each worker writes its batch's answers in one go.
    monkeypatch.setattr("forwarding.webhook_delivery.RECORD_EVERY_SECONDS", 3600)
    receiver.respond(500, b"down")
    first = WebhookEndpoint.objects.get(bot=hooked_bot)
    second = WebhookEndpoint.objects.create(bot=hooked_bot, url=receiver.url("/second"))
    for n in range(2):
        post_callback(callback_body("text", hooked_bot, msgid=f"race-{n}"))
    create_pending_deliveries()
    one, two = (
        list(WebhookDelivery.objects.filter(message__upstream_msgid=f"race-{n}")) for n in range(2)
    )
    # Worker A's batch has the first endpoint's delivery first, worker B's the second's.
    a = sorted(claim_due_deliveries(ids=[d.pk for d in one]), key=lambda a: a.delivery.endpoint_id)
    b = sorted(claim_due_deliveries(ids=[d.pk for d in two]), key=lambda a: -a.delivery.endpoint_id)
    assert [x.delivery.endpoint_id for x in a] == [first.pk, second.pk]
    assert [x.delivery.endpoint_id for x in b] == [second.pk, first.pk]

    with updates_wait_at_gate(WebhookEndpoint) as gate:
        # Each stops after its first endpoint's health update, that endpoint's row locked.
        errors = gate.race(lambda: forward_claimed(a), lambda: forward_claimed(b))

    assert errors == []  # no "deadlock detected": neither worker lost its answers
    assert len(receiver.requests) == 4
    deliveries = WebhookDelivery.objects.all()
    assert {(d.status, d.attempt_count, d.retry_step) for d in deliveries} == {("pending", 1, 1)}
    assert set(WebhookAttempt.objects.values_list("outcome", flat=True)) == {"failure"}
    for endpoint in (first, second):
        endpoint.refresh_from_db()
        assert endpoint.failure_streak == 2  # one failure from each worker


def test_a_replayed_delivery_of_a_dead_worker_is_posted_once_by_the_next_claim(
    hooked_bot, receiver, record, superuser
):
    delivery = record(hooked_bot)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        # A worker claimed it and was killed mid-POST; its lease ran out unnoticed.
        claim_due_deliveries()
        WebhookAttempt.objects.filter(delivery=delivery).update(worker=_ended_process())
        traveller.shift(CLAIM_LEASE + timedelta(seconds=1))
        # An operator replays it (not in flight: its lease is over).
        assert replay.replay_deliveries(superuser, WebhookDelivery.objects.all()) == 1
        (dead,) = WebhookAttempt.objects.filter(delivery=delivery)
        assert (dead.outcome, dead.response_text) == ("failure", INTERRUPTED)

        # A live worker claims it; the sweeper runs while it POSTs.
        claimed = claim_due_deliveries()
        assert [a.delivery.pk for a in claimed] == [delivery.pk]
        lease = WebhookDelivery.objects.get().next_attempt_at
        assert sweep_due_deliveries() == 0
        assert WebhookDelivery.objects.get().next_attempt_at == lease  # the live claim's still
        assert claim_due_deliveries() == []
        assert forward_claimed(claimed) == ["success"]

    assert [json.loads(r.body)["msgid"] for r in receiver.requests] == ["m-1"]
    assert list(delivery.attempts.values_list("number", "outcome")) == [
        (1, "failure"),
        (2, "success"),
    ]


def test_an_old_open_attempt_of_a_dead_worker_never_ends_a_live_claims_lease(
    hooked_bot, receiver, record
):
    delivery = record(hooked_bot)
    claimed = claim_due_deliveries()  # attempt 2 below: this live worker's
    # Left open by a worker killed long ago, and never completed (as a replay of a
    # delivery in flight left its attempt before it completed them).
    WebhookDelivery.objects.update(attempt_count=2)
    claimed[0].delivery.attempt_count = 2
    WebhookAttempt.objects.filter(delivery=delivery).update(number=2)
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        url=delivery.endpoint.url,
        started_at=timezone.now() - timedelta(hours=1),
        worker=_ended_process(),
    )
    assert WebhookAttempt.objects.filter(outcome=IN_FLIGHT).count() == 2
    lease = WebhookDelivery.objects.get().next_attempt_at

    assert sweep_due_deliveries() == 0
    assert WebhookDelivery.objects.get().next_attempt_at == lease
    assert claim_due_deliveries() == []  # nobody takes it from the live worker
    assert forward_claimed(claimed) == ["success"]
    assert len(receiver.requests) == 1
