"""Each webhook endpoint signs with its own secret (security review M2): a receiver verifies
what is sent to it with its endpoint's secret, and cannot sign anything the bot's other
receivers accept. Rotating one endpoint's secret signs with both for the grace, then with
the new one alone, and leaves the other endpoints alone. The receivers are real HTTP
servers verifying as an operator's would (devtools/receiver.py)."""

import json
from datetime import timedelta

import pytest
import requests
import time_machine
from django.utils import timezone

from audit.models import OperatorAction
from devtools.receiver import Receiver
from forwarding.endpoints import add_endpoint
from forwarding.models import WebhookDelivery, WebhookEndpoint
from forwarding.replay import send_test_event
from forwarding.signing_secrets import reveal_signing_secret, rotate_signing_secret
from forwarding.webhook_delivery import attempt_delivery
from forwarding.webhook_requests import encode_body, signature_headers


def _travel_to_next_attempt(traveller, delivery):
    delivery.refresh_from_db()
    traveller.move_to(delivery.next_attempt_at + timedelta(milliseconds=1))


@pytest.fixture
def second_receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def two_endpoints(hooked_bot, second_receiver, superuser):
    """The hooked bot's primary endpoint (the `receiver`) and a second one (`second_receiver`)."""
    primary = hooked_bot.webhook_endpoints.get(is_primary=True)
    second = add_endpoint(superuser, hooked_bot, url=second_receiver.url("/second"), msgtypes=[])
    return primary, second


def test_a_new_endpoint_gets_a_standard_webhooks_secret_of_its_own(two_endpoints):
    primary, second = two_endpoints

    assert primary.signing_secret.startswith("whsec_")
    assert second.signing_secret.startswith("whsec_")
    assert primary.signing_secret != second.signing_secret


def test_two_endpoints_of_one_bot_get_signatures_that_verify_only_with_their_own_secret(
    hooked_bot, two_endpoints, receiver, second_receiver, record
):
    primary, second = two_endpoints
    record(hooked_bot)
    for delivery in WebhookDelivery.objects.all():
        assert attempt_delivery(delivery.pk) == "success"

    (to_primary,) = receiver.requests
    (to_second,) = second_receiver.requests
    assert to_primary.headers["webhook-id"] == to_second.headers["webhook-id"]
    assert to_primary.body == to_second.body
    assert to_primary.headers["webhook-signature"] != to_second.headers["webhook-signature"]
    assert to_primary.verifies_with(primary.signing_secret)
    assert not to_primary.verifies_with(second.signing_secret)
    assert to_second.verifies_with(second.signing_secret)
    assert not to_second.verifies_with(primary.signing_secret)


def test_a_receiver_refuses_a_delivery_forged_with_another_endpoints_secret(
    hooked_bot, two_endpoints, second_receiver, record
):
    """The review's reproduction: the operator of the primary endpoint's receiver signs a
    forged body with that endpoint's secret and posts it to the second endpoint, whose
    receiver verifies with its own."""
    primary, second = two_endpoints
    second_receiver.signing_secret = second.signing_secret
    message = record(hooked_bot).message
    genuine = WebhookDelivery.objects.get(message=message, endpoint=second)
    assert attempt_delivery(genuine.pk) == "success"  # botadmin's own delivery verifies

    forged = encode_body({"msgtype": "text", "text": {"content": "transfer the money"}})
    headers = signature_headers(primary.signing_secret, "msg_forged", forged)
    answer = requests.post(second_receiver.url("/second"), data=forged.encode(), headers=headers)

    assert answer.status_code == 401
    ids = [request.headers["webhook-id"] for request in second_receiver.requests]
    assert ids == [genuine.webhook_id, "msg_forged"]


def test_a_rotation_signs_with_both_secrets_during_the_grace_and_with_the_new_one_after(
    hooked_bot, two_endpoints, receiver, second_receiver, record, superuser
):
    primary, second = two_endpoints
    old = primary.signing_secret
    receiver.script([500, 500, 200])
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        delivery = record(hooked_bot)
        delivery = WebhookDelivery.objects.get(message=delivery.message, endpoint=primary)
        attempt_delivery(delivery.pk)
        primary = rotate_signing_secret(primary, timedelta(minutes=1), actor=superuser)
        new = primary.signing_secret
        _travel_to_next_attempt(traveller, delivery)  # ~5 s later: within the grace
        attempt_delivery(delivery.pk)
        during = receiver.requests[-1]
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert during.verifies_with(old) and during.verifies_with(new)
        _travel_to_next_attempt(traveller, delivery)  # ~5 min later: after it
        assert attempt_delivery(delivery.pk) == "success"
        after = receiver.requests[-1]
        assert len(after.headers["webhook-signature"].split(" ")) == 1
        assert after.verifies_with(new) and not after.verifies_with(old)

        # The other endpoint kept its secret and signs with it alone.
        other = WebhookDelivery.objects.get(message=delivery.message, endpoint=second)
        assert attempt_delivery(other.pk) == "success"
        # Checked at the travelled time: the signature's timestamp is the attempt's,
        # minutes ahead of the real clock (a receiver refuses one 5 minutes off).
        (to_second,) = second_receiver.requests
        assert len(to_second.headers["webhook-signature"].split(" ")) == 1
        assert to_second.verifies_with(second.signing_secret)
    assert WebhookEndpoint.objects.get(pk=second.pk).signing_secret == second.signing_secret
    assert new != old and new.startswith("whsec_")


def test_a_rotation_without_grace_signs_with_the_new_secret_alone(
    hooked_bot, two_endpoints, receiver, record
):
    primary, _second = two_endpoints
    old = primary.signing_secret
    primary = rotate_signing_secret(primary, timedelta(0))
    delivery = WebhookDelivery.objects.get(message=record(hooked_bot).message, endpoint=primary)

    assert attempt_delivery(delivery.pk) == "success"

    (request,) = receiver.requests
    assert request.verifies_with(primary.signing_secret) and not request.verifies_with(old)
    assert (
        primary.previous_signing_secret == "" and primary.previous_signing_secret_expires_at is None
    )


def test_the_default_grace_is_bot_admin_secret_grace_hours(two_endpoints, settings):
    settings.BOTADMIN_SECRET_GRACE_HOURS = 3
    primary, _second = two_endpoints
    before = timezone.now()

    primary = rotate_signing_secret(primary)

    expires = primary.previous_signing_secret_expires_at
    assert before + timedelta(hours=3) <= expires <= timezone.now() + timedelta(hours=3)


def test_a_rotation_and_a_reveal_are_audited_without_the_value(two_endpoints, superuser):
    primary, _second = two_endpoints
    shown = reveal_signing_secret(primary, superuser, via="console")
    rotated = rotate_signing_secret(
        primary, timedelta(hours=24), actor=superuser, via=" in the console"
    )

    reveal = OperatorAction.objects.get(action="secret.reveal")
    rotation = OperatorAction.objects.get(action="endpoint.rotate_signing_secret")
    for entry in (reveal, rotation):
        assert (entry.actor, entry.bot_id, entry.target_id) == (
            superuser,
            primary.bot_id,
            str(primary.pk),
        )
        stored = f"{entry.summary} {json.dumps(entry.details)} {entry.target_label}"
        assert shown not in stored and rotated.signing_secret not in stored
    assert reveal.details == {"secret": "signing_secret", "via": "console"}
    assert "grace 24 h" in rotation.summary and "in the console" in rotation.summary


def test_a_test_event_is_signed_with_the_endpoints_own_secret(two_endpoints, second_receiver):
    primary, second = two_endpoints

    assert send_test_event(second).outcome == "success"

    (request,) = second_receiver.requests
    assert request.verifies_with(second.signing_secret)
    assert not request.verifies_with(primary.signing_secret)
