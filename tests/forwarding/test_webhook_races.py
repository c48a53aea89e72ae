"""Forwarding workers side by side: interleavings that once lost answers or posted twice.

Each test forces its interleaving (a worker stopped at a chosen point, another worker
run meanwhile), so it fails every time the race is there, not once in a while."""

import pytest
from django.db import connection

from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from forwarding.webhook_delivery import (
    claim_due_deliveries,
    forward_claimed,
)
from tests.db_faults import updates_wait_at_gate
from tests.messaging.support import callback_body, create_pending_deliveries

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks: SQLite runs writing transactions one after the other, no deadlock",
)


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
