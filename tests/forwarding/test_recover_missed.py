"""Forwarding to an endpoint the messages it missed while switched off or disabled
(forwarding/recovery.py), against the real local receiver: each once, the oldest first,
audited, bounded."""

import json
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import OperatorAction
from forwarding import recovery
from forwarding.drains import drain_endpoints
from forwarding.endpoint_health import DISABLE_AFTER, _endpoint_failed
from forwarding.endpoints import change_endpoint, reenable_endpoint
from forwarding.models import WebhookDelivery, WebhookEndpoint
from forwarding.recovery import count_missed, default_since, latest_run, recover_missed
from forwarding.tasks import recover_missed_rest
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
    assert count_missed(endpoint, since) == 3
    assert recover_missed(actor, endpoint, since).queued == 3
    drain_endpoints([endpoint.pk])

    assert received_msgids(receiver)[2:] == ["while-off-1", "while-off-2", "while-off-3"]
    # Run again (a second operator, a reload): nothing is sent twice.
    assert count_missed(endpoint, since) == 0
    assert recover_missed(actor, endpoint, since) is None
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
    assert recover_missed(actor, endpoint, began) is None  # not while disabled

    receiver.respond(200, b"ok")
    reenable_endpoint(endpoint, actor)
    endpoint.refresh_from_db()
    assert recover_missed(actor, endpoint, default_since(endpoint)).queued == 1
    drain_endpoints([endpoint.pk])

    first.refresh_from_db()
    assert first.status == "delivered" and first.replay_count == 1
    assert received_msgids(receiver) == ["failed-1", "failed-1"]  # under one webhook-id
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 1


def test_only_the_last_seven_days_are_taken_and_a_task_queues_the_batches_after_the_first(
    hooked_bot, endpoint, actor, record, receiver, monkeypatch
):
    monkeypatch.setattr(recovery, "RECOVER_BATCH", 2)
    monkeypatch.setattr(recovery, "RECOVER_BATCHES_PER_TASK", 1)  # then a fresh task
    change_endpoint(actor, endpoint, is_active=False)
    for n in range(1, 7):
        record(hooked_bot, msgid=f"m{n}")
    Message.objects.filter(upstream_msgid="m1").update(
        created_at=timezone.now() - timedelta(days=recovery.RECOVER_DAYS, minutes=1)
    )
    change_endpoint(actor, endpoint, is_active=True)
    long_ago = timezone.now() - timedelta(days=30)

    run = recover_missed(actor, endpoint, long_ago)  # the request queues the first batch
    assert (run.queued, run.found, run.done) == (2, 5, False)
    (action,) = OperatorAction.objects.filter(action="endpoint.recover_missed")
    record(hooked_bot, msgid="after-the-run-began")  # forwarded as any new message
    recover_missed_rest(action.pk)  # the worker: the next batch, then a fresh task
    recover_missed_rest(action.pk)  # that task: the last one
    recover_missed_rest(action.pk)  # delivered again (its worker was killed): nothing more
    drain_endpoints([endpoint.pk])

    received = received_msgids(receiver)
    assert sorted(received) == ["after-the-run-began", "m2", "m3", "m4", "m5", "m6"]
    assert [m for m in received if m.startswith("m")] == ["m2", "m3", "m4", "m5", "m6"]
    progress = latest_run(endpoint)
    assert (progress.queued, progress.found, progress.done) == (5, 5, True)
    action.refresh_from_db()
    assert action.details["count"] == 5 and action.summary.startswith("Forwarded 5 missed")


def test_a_run_whose_endpoint_is_switched_off_meanwhile_stops_there(
    hooked_bot, endpoint, actor, record, monkeypatch
):
    monkeypatch.setattr(recovery, "RECOVER_BATCH", 1)
    change_endpoint(actor, endpoint, is_active=False)
    for n in range(1, 4):
        record(hooked_bot, msgid=f"m{n}")
    change_endpoint(actor, endpoint, is_active=True)
    endpoint.refresh_from_db()
    run = recover_missed(actor, endpoint, default_since(endpoint))
    change_endpoint(actor, endpoint, is_active=False)

    recover_missed_rest(OperatorAction.objects.get(action="endpoint.recover_missed").pk)

    assert endpoint.deliveries.count() == run.queued == 1
    assert latest_run(endpoint).done


@pytest.mark.django_db(transaction=True)
def test_two_recoveries_at_once_audit_together_what_was_queued_each_message_once(
    hooked_bot, endpoint, actor, record, receiver
):
    change_endpoint(actor, endpoint, is_active=False)
    for n in range(1, 4):
        record(hooked_bot, msgid=f"m{n}")
    change_endpoint(actor, endpoint, is_active=True)
    endpoint.refresh_from_db()
    since = default_since(endpoint)
    barrier = threading.Barrier(2)

    def recover():
        try:
            barrier.wait()
            recover_missed(actor, WebhookEndpoint.objects.get(pk=endpoint.pk), since)
        finally:
            connection.close()

    threads = [threading.Thread(target=recover) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    drain_endpoints([endpoint.pk])

    assert sorted(received_msgids(receiver)) == ["m1", "m2", "m3"]
    audited = OperatorAction.objects.filter(action="endpoint.recover_missed")
    assert sum(action.details["count"] for action in audited) == 3


def test_a_switched_off_endpoint_is_queued_nothing(hooked_bot, endpoint, actor, record):
    change_endpoint(actor, endpoint, is_active=False)
    record(hooked_bot, msgid="while-off")

    assert recover_missed(actor, endpoint, default_since(endpoint)) is None
    assert not endpoint.deliveries.exists()


def test_the_admin_forwards_the_selected_endpoints_what_they_missed_since_they_stopped(
    client, superuser, hooked_bot, endpoint, actor, record, receiver
):
    change_endpoint(actor, endpoint, is_active=False)
    for n in range(1, 3):
        record(hooked_bot, msgid=f"while-off-{n}")
    change_endpoint(actor, endpoint, is_active=True)
    client.force_login(superuser)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    changelist = reverse("admin:forwarding_webhookendpoint_changelist")
    select = {"action": "forward_missed", "_selected_action": [endpoint.pk]}

    page = client.post(changelist, select, follow=True).content.decode()
    again = client.post(changelist, select, follow=True).content.decode()
    drain_endpoints([endpoint.pk])

    assert "2 missed messages are being forwarded" in page
    assert (
        "No message was missed by the selected endpoints that forward: nothing was queued." in again
    )
    assert received_msgids(receiver) == ["while-off-1", "while-off-2"]
    (action,) = OperatorAction.objects.filter(action="endpoint.recover_missed")
    assert action.actor == superuser and action.details["count"] == 2
