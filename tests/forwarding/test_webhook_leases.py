"""A claimed batch is POSTed one delivery after the other: a worker holds each delivery it
has not posted yet for as long as that takes, and never POSTs or records one another
worker took back."""

import json
from datetime import timedelta

import time_machine
from django.db import connection
from django.utils import timezone

from devtools.receiver import Receiver
from forwarding.models import WebhookDelivery
from forwarding.webhook_delivery import CLAIM_LEASE, claim_due_deliveries, forward_claimed
from tests.messaging.support import callback_body, create_pending_deliveries


class SlowReceiver(Receiver):
    """Each answer takes the next of `seconds` on the simulated clock; meanwhile another
    worker (this server's thread, its own database connection) claims what is due."""

    def __init__(self, traveller, seconds: list[float]):
        super().__init__()
        self.traveller, self.seconds = traveller, list(seconds)
        self.taken = []  # the other worker's claims

    def handle(self, request):
        self.traveller.shift(timedelta(seconds=self.seconds.pop(0) if self.seconds else 0))
        try:
            self.taken += claim_due_deliveries()
        finally:
            connection.close()
        return super().handle(request)


def _three_deliveries(make_bot, receiver, post_callback):
    bot = make_bot(webhook_url=receiver.url("/hook"))
    for n in range(3):
        post_callback(callback_body("text", bot, msgid=f"slow-{n}"))
    create_pending_deliveries()
    return list(WebhookDelivery.objects.order_by("pk"))


def test_a_worker_with_slow_answers_keeps_the_rest_of_its_batch(
    transactional_db, make_bot, post_callback
):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        # Each answer takes most of a lease: without renewing, the third's ran out.
        with SlowReceiver(traveller, [CLAIM_LEASE.total_seconds() * 0.8] * 3) as receiver:
            deliveries = _three_deliveries(make_bot, receiver, post_callback)
            claimed = claim_due_deliveries()
            assert forward_claimed(claimed) == ["success"] * 3

    assert receiver.taken == []
    assert len(receiver.requests) == 3
    assert [d.attempts.get().outcome for d in deliveries] == ["success"] * 3


def test_a_worker_that_stalled_past_its_lease_leaves_what_was_taken_back(
    transactional_db, make_bot, post_callback
):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        # The worker stalls past its lease during its first POST: another claim takes the
        # whole batch back, that first delivery too (its answer had not come yet).
        with SlowReceiver(traveller, [CLAIM_LEASE.total_seconds() + 10]) as receiver:
            first, second, third = _three_deliveries(make_bot, receiver, post_callback)
            assert forward_claimed(claim_due_deliveries()) == ["success"]  # the first only
            taken = receiver.taken
            assert [a.delivery.pk for a in taken] == [first.pk, second.pk, third.pk]
            assert forward_claimed(taken) == ["success"] * 3

    posted = [json.loads(request.body)["msgid"] for request in receiver.requests]
    # The first went out twice (at least once: its lease ran out mid-POST), the others once.
    assert sorted(posted) == ["slow-0", "slow-0", "slow-1", "slow-2"]
    first.refresh_from_db()
    assert (first.status, first.attempt_count) == ("delivered", 2)
    assert list(first.attempts.values_list("outcome", flat=True)) == ["success", "success"]
    for delivery in (second, third):
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempt_count) == ("delivered", 2)
        assert list(delivery.attempts.values_list("outcome", flat=True)) == ["failure", "success"]
        assert delivery.attempts.first().response_text.startswith("interrupted")
