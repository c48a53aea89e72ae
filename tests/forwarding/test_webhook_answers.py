"""Forwarding as a receiver's developer sees it: what arrives (body, headers, signatures,
also across retries; across a rotation: test_signing_secrets.py) and what counts as an
answer (a 2xx within 15 s, no redirect), recorded as it happened."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from botadmin.templatetags.reasons import reason_detail
from forwarding.webhook_delivery import (
    RETRY_AFTER_AT_MOST,
    attempt_delivery,
    claim_due_deliveries,
    forward_claimed,
)
from forwarding.webhook_requests import KEEP_BYTES
from messaging.outbox import FORWARDING_SCHEDULE
from tests.messaging.support import primary_signing_secret


def _travel_to_next_attempt(traveller, delivery):
    delivery.refresh_from_db()
    traveller.move_to(delivery.next_attempt_at + timedelta(milliseconds=1))


def test_the_body_is_the_seed_body_as_utf_8_json_with_the_secret(hooked_bot, receiver, record):
    delivery = record(hooked_bot)

    assert attempt_delivery(delivery.pk) == "success"

    (request,) = receiver.requests
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "下午三点开会".encode() in request.body  # not \\u escapes: signed as sent
    body = json.loads(request.body)
    assert body["secret"] == hooked_bot.secret
    assert (body["msgid"], body["timestamp"]) == (delivery.message.upstream_msgid, 1764300000)


@pytest.mark.parametrize("field", ["msgid", "timestamp"])
def test_a_msgid_or_timestamp_the_agent_sent_as_null_is_filled(field, hooked_bot, receiver, record):
    delivery = record(hooked_bot, **{field: None})

    assert attempt_delivery(delivery.pk) == "success"

    body = json.loads(receiver.requests[0].body)
    message = delivery.message
    filled = {"msgid": message.msgid, "timestamp": int(message.created_at.timestamp())}
    assert body[field] == filled[field]


def test_a_timestamp_with_a_fraction_is_forwarded_as_whole_seconds(hooked_bot, receiver, record):
    # An agent may send 1764300000.75; a receiver decoding into an int64 reads no fraction.
    delivery = record(hooked_bot, timestamp=1764300000.75)

    assert attempt_delivery(delivery.pk) == "success"

    timestamp = json.loads(receiver.requests[0].body)["timestamp"]
    assert timestamp == 1764300000 and isinstance(timestamp, int)


def test_an_empty_msgid_is_filled_as_a_missing_one_each_message_its_own(
    hooked_bot, receiver, record
):
    # Stored as no msgid (each such callback a new message): the receiver gets them apart.
    deliveries = [record(hooked_bot, msgid=""), record(hooked_bot, msgid="")]

    assert [attempt_delivery(d.pk) for d in deliveries] == ["success", "success"]

    forwarded = [json.loads(request.body)["msgid"] for request in receiver.requests]
    assert forwarded == [d.message.msgid for d in deliveries]


def test_retries_keep_the_webhook_id_and_carry_their_own_timestamp(hooked_bot, receiver, record):
    receiver.script([500, 500, 200])
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        delivery = record(hooked_bot)
        for outcome in ("failure", "failure", "success"):
            assert attempt_delivery(delivery.pk) == outcome
            # Verified when it arrives (the library refuses a timestamp 5 min off).
            Webhook(primary_signing_secret(hooked_bot)).verify(
                receiver.requests[-1].body, receiver.requests[-1].headers
            )
            if outcome == "failure":
                _travel_to_next_attempt(traveller, delivery)

    ids = {r.headers["webhook-id"] for r in receiver.requests}
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.requests]
    assert ids == {delivery.webhook_id} and len(set(stamps)) == 3


def test_an_answer_crawling_in_past_the_deadline_is_a_failure(
    hooked_bot, receiver, record, monkeypatch
):
    # Every read gets a line soon, the whole answer comes late: a per-read timeout
    # alone would wait for it as long as it keeps crawling.
    monkeypatch.setattr("forwarding.webhook_requests.RESPONSE_TIMEOUT", 1)
    receiver.trickle = 0.25
    receiver.respond(200, b"ok", {f"X-Line-{n}": "." for n in range(12)})
    delivery = record(hooked_bot)

    assert attempt_delivery(delivery.pk) == "failure"

    attempt = delivery.attempts.get()
    assert attempt.http_status is None and "1 s" in reason_detail(attempt.response_text)
    assert attempt.duration_ms < 2000
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.retry_step == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_is_a_failure(status, hooked_bot, receiver, record):
    receiver.respond(status, b"moved", {"Location": receiver.url("/elsewhere")})
    delivery = record(hooked_bot)

    assert attempt_delivery(delivery.pk) == "failure"

    assert [r.path for r in receiver.requests] == ["/hook"]
    assert delivery.attempts.get().http_status == status


def test_an_attempts_time_is_when_its_post_started_as_the_receiver_saw_it(
    hooked_bot, receiver, record
):
    start = timezone.now().replace(microsecond=0)
    with time_machine.travel(start, tick=False) as traveller:
        first, second = record(hooked_bot), record(hooked_bot)
        claimed = claim_due_deliveries()
        assert [a.delivery.pk for a in claimed] == [first.pk, second.pk]
        # The batch's POSTs go one after the other: the second starts later.
        forward_claimed(claimed[:1])
        traveller.shift(timedelta(seconds=12))
        forward_claimed(claimed[1:])

    for delivery, request in zip((first, second), receiver.requests, strict=True):
        sent = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
        assert delivery.attempts.get().started_at == sent


def test_a_gbk_error_page_is_kept_readable(hooked_bot, receiver, record):
    page = "<html><body><h1>502 错误：网关超时</h1></body></html>"
    receiver.respond(502, page.encode("gbk"), {"Content-Type": "text/html; charset=GBK"})
    delivery = record(hooked_bot)

    assert attempt_delivery(delivery.pk) == "failure"

    assert delivery.attempts.get().response_text == page
    delivery.refresh_from_db()
    assert delivery.last_error == f"the endpoint answered HTTP 502: {page}"


def test_a_gbk_error_page_declaring_its_charset_in_a_meta_is_kept_readable(
    hooked_bot, receiver, record
):
    """IIS and nginx error pages often say text/html alone and name GBK in the page."""
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
        "</head><body><h1>502 错误：网关超时</h1></body></html>"
    )
    receiver.respond(502, page.encode("gbk"), {"Content-Type": "text/html"})
    delivery = record(hooked_bot)

    assert attempt_delivery(delivery.pk) == "failure"

    assert delivery.attempts.get().response_text == page


@pytest.mark.parametrize("encoding, before", [("utf-8", ""), ("gbk", "x")])
def test_an_answer_cut_at_1_kb_inside_a_character_keeps_the_whole_ones_before(
    encoding, before, hooked_bot, receiver, record
):
    width = len("网".encode(encoding))
    assert (KEEP_BYTES - len(before)) % width  # the 1,024th byte is inside a character
    body = (before + "网" * 1000).encode(encoding)
    receiver.respond(500, body, {"Content-Type": f"text/plain; charset={encoding}"})
    delivery = record(hooked_bot)

    assert attempt_delivery(delivery.pk) == "failure"

    kept = delivery.attempts.get().response_text
    assert kept == before + "网" * ((KEEP_BYTES - len(before)) // width)


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "120", 120),  # later than the schedule's 5 s: kept
        (503, "Wed, 07 Jan 2026 08:10:00 GMT", 600),  # an HTTP-date, 10 min ahead
        (503, "86400", RETRY_AFTER_AT_MOST),  # "tomorrow": an hour at most
        (429, "1", 5),  # sooner than the schedule: the schedule's
        (500, "120", 5),  # only a 429 or 503 says when to come back
    ],
)
def test_a_busy_receivers_retry_after_postpones_the_next_attempt(
    status, retry_after, expected, hooked_bot, receiver, record
):
    receiver.respond(status, b"busy", {"Retry-After": retry_after})
    with time_machine.travel(datetime(2026, 1, 7, 8, 0, tzinfo=UTC), tick=False):
        delivery = record(hooked_bot)
        assert attempt_delivery(delivery.pk) == "failure"
        delivery.refresh_from_db()
        delay = (delivery.next_attempt_at - timezone.now()).total_seconds()

    jitter = expected * FORWARDING_SCHEDULE.jitter if expected == 5 else 0
    assert expected - jitter <= delay <= expected + jitter
    assert delivery.status == "pending" and delivery.retry_step == 1
