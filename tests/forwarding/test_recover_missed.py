"""Forwarding to an endpoint the messages it missed while switched off or disabled
(forwarding/recovery.py), against the real local receiver: each once, the oldest first,
audited, bounded."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import OperatorAction
from forwarding import recovery
from forwarding.drains import drain_endpoints
from forwarding.endpoint_health import DISABLE_AFTER, _endpoint_failed
from forwarding.endpoints import change_endpoint, reenable_endpoint
from forwarding.models import WebhookDelivery, WebhookEndpoint
from forwarding.recovery import default_since, missed, recover_missed
from messaging.models import Message
from tests.messaging.support import forward_due


@pytest.fixture
def endpoint(hooked_bot):
    return WebhookEndpoint.objects.get(bot=hooked_bot, is_primary=True)


@pytest.fixture
def actor(make_operator, hooked_bot):
    return make_operator("ops", hooked_bot)


def received_msgids(receiver) -> list[str]:
    return [json.loads(request.body)["msgid"] for request in receiver.requests]


def test_an_endpoint_switched_off_gets_what_was_stored_meanwhile_once_oldest_first(
    hooked_bot, endpoint, actor, record, receiver
):
    record(hooked_bot, msgid="before")
    forward_due()
    change_endpoint(actor, endpoint, is_active=False)
    for n in range(1, 4):
        record(hooked_bot, msgid=f"while-off-{n}")
    change_endpoint(actor, endpoint, is_active=True)
    record(hooked_bot, msgid="after")
    forward_due()
    assert received_msgids(receiver) == ["before", "after"]

    endpoint.refresh_from_db()
    since = default_since(endpoint)
    assert missed(endpoint, since).count == 3
    assert recover_missed(actor, endpoint, since) == 3
    drain_endpoints([endpoint.pk])

    assert received_msgids(receiver)[2:] == ["while-off-1", "while-off-2", "while-off-3"]
    # Run again (a second operator, a reload): nothing is sent twice.
    assert missed(endpoint, since).count == 0
    assert recover_missed(actor, endpoint, since) == 0
    drain_endpoints([endpoint.pk])
    assert len(receiver.requests) == 5
    (action,) = OperatorAction.objects.filter(action="endpoint.recover_missed")
    assert action.actor == actor and action.details["count"] == 3
    assert action.details["start"] == since.isoformat()


def test_a_disabled_endpoint_gets_again_what_failed_since_its_failures_began(
    hooked_bot, endpoint, actor, record, receiver
):
    receiver.respond(500, b"down")
    first = record(hooked_bot, msgid="failed-1")
    forward_due()
    WebhookDelivery.objects.filter(pk=first.pk).update(status="failed", next_attempt_at=None)
    began = timezone.now() - DISABLE_AFTER - timedelta(minutes=1)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=began)
    _endpoint_failed(endpoint.pk, timezone.now())
    endpoint.refresh_from_db()
    assert endpoint.disabled_at and endpoint.stopped_at == began
    assert recover_missed(actor, endpoint, began) == 0  # not while disabled

    receiver.respond(200, b"ok")
    reenable_endpoint(endpoint, actor)
    endpoint.refresh_from_db()
    assert recover_missed(actor, endpoint, default_since(endpoint)) == 1
    drain_endpoints([endpoint.pk])

    first.refresh_from_db()
    assert first.status == "delivered" and first.replay_count == 1
    assert received_msgids(receiver) == ["failed-1", "failed-1"]  # under one webhook-id
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 1


def test_only_the_last_seven_days_and_at_most_the_oldest_batch_are_taken(
    hooked_bot, endpoint, actor, record, receiver, monkeypatch
):
    monkeypatch.setattr(recovery, "RECOVER_AT_MOST", 2)
    change_endpoint(actor, endpoint, is_active=False)
    for n in range(1, 5):
        record(hooked_bot, msgid=f"m{n}")
    Message.objects.filter(upstream_msgid="m1").update(
        created_at=timezone.now() - timedelta(days=recovery.RECOVER_DAYS, minutes=1)
    )
    change_endpoint(actor, endpoint, is_active=True)
    long_ago = timezone.now() - timedelta(days=30)

    assert recover_missed(actor, endpoint, long_ago) == 2
    assert recover_missed(actor, endpoint, long_ago) == 1  # the next ones
    drain_endpoints([endpoint.pk])

    assert received_msgids(receiver) == ["m2", "m3", "m4"]  # m1 is older than 7 days


def test_a_switched_off_endpoint_is_queued_nothing(hooked_bot, endpoint, actor, record):
    change_endpoint(actor, endpoint, is_active=False)
    record(hooked_bot, msgid="while-off")

    assert recover_missed(actor, endpoint, default_since(endpoint)) == 0
    assert not endpoint.deliveries.exists()
