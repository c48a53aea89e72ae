"""Forwarding: the retry schedule, every attempt recorded, URL safety, endpoint health."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from standardwebhooks.webhooks import Webhook

from botadmin.local_http import Answer
from botadmin.reasons import translate
from conversations.models import Bot
from devtools.receiver import Receiver
from forwarding.drains import forward_and_drain, sweep_due_deliveries
from forwarding.endpoint_health import DISABLE_AFTER
from forwarding.endpoints import create_deliveries, reenable_endpoint
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from forwarding.webhook_delivery import CLAIM_LEASE, attempt_delivery, claim_due_deliveries
from forwarding.webhook_requests import KEEP_BYTES
from messaging.models import Message
from messaging.outbox import FORWARDING_SCHEDULE
from tests.messaging.support import (
    callback_body,
    create_pending_deliveries,
    forward_due,
    primary_signing_secret,
)

# One batch forwarded by a draining worker (forwarding.drains.forward_and_drain):
# fan-out (find, endpoints, insert, unmark), claim (lock, media, update, open attempts), record
# (attempts, deliveries, endpoint health), then a fan-out and a claim finding nothing.
STATEMENTS_TO_DRAIN_ONE_BATCH = 13
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")


def _travel_to_next_attempt(traveller, delivery):
    delivery.refresh_from_db()
    traveller.move_to(delivery.next_attempt_at + timedelta(milliseconds=1))


def test_a_receiver_answering_500_five_times_gets_five_recorded_attempts_on_the_schedule(
    hooked_bot, receiver, record
):
    receiver.script([500, 500, 500, 500, 500, 200])
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        delivery = record(hooked_bot)
        for step in range(5):
            started = timezone.now()
            assert attempt_delivery(delivery.pk) == "failure"
            delivery.refresh_from_db()
            assert delivery.status == "pending"
            delay = delivery.next_attempt_at - started
            expected = timedelta(seconds=FORWARDING_SCHEDULE.delays[step])
            jitter = FORWARDING_SCHEDULE.jitter
            assert expected * (1 - jitter) <= delay <= expected * (1 + jitter)
            # Not due yet: a second wake-up does nothing.
            assert attempt_delivery(delivery.pk) is None
            _travel_to_next_attempt(traveller, delivery)
        assert attempt_delivery(delivery.pk) == "success"

    attempts = list(delivery.attempts.values_list("number", "outcome", "http_status"))
    assert attempts == [(n, "failure", 500) for n in range(1, 6)] + [(6, "success", 200)]
    assert all(a.duration_ms is not None for a in delivery.attempts.all())
    ids = {request.headers["webhook-id"] for request in receiver.requests}
    assert len(receiver.requests) == 6 and len(ids) == 1


def test_after_the_whole_schedule_fails_the_delivery_is_failed_and_stays_replayable(
    hooked_bot, receiver, record
):
    receiver.respond(503, b"maintenance")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        delivery = record(hooked_bot)
        for _ in FORWARDING_SCHEDULE.delays:
            attempt_delivery(delivery.pk)
            _travel_to_next_attempt(traveller, delivery)
        assert attempt_delivery(delivery.pk) == "failure"

    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.next_attempt_at is None
    assert delivery.attempts.count() == len(FORWARDING_SCHEDULE.delays) + 1
    assert delivery.attempts.last().response_text == "maintenance"


def test_a_receiver_down_for_a_stretch_gets_the_message_when_it_returns_with_the_same_id(
    make_bot, record
):
    with Receiver() as first:
        port = first.port
    bot = make_bot(webhook_url=f"http://127.0.0.1:{port}/hook")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        delivery = record(bot)
        assert attempt_delivery(delivery.pk) == "failure"  # nobody listens
        _travel_to_next_attempt(traveller, delivery)
        assert attempt_delivery(delivery.pk) == "failure"
        _travel_to_next_attempt(traveller, delivery)
        with Receiver(port=port) as back:
            assert attempt_delivery(delivery.pk) == "success"
        (request,) = back.requests
        Webhook(primary_signing_secret(bot)).verify(request.body, request.headers)

    assert request.headers["webhook-id"] == delivery.webhook_id
    first_error = delivery.attempts.first()
    assert first_error.http_status is None and "connection" in first_error.response_text


@pytest.mark.parametrize("agents_msgid", ["rev-1", None])
def test_a_receiver_finds_a_forwarded_message_in_the_status_api_by_its_webhook_id(
    hooked_bot, receiver, record, client, agents_msgid
):
    """The body's msgid is the agent's; webhook-id is `msg_` + botadmin's own id, which
    GET /api/messages/{msgid} takes (docs/webhooks.md, "Forwarding")."""
    assert attempt_delivery(record(hooked_bot, msgid=agents_msgid).pk) == "success"
    (request,) = receiver.requests
    body = Webhook(primary_signing_secret(hooked_bot)).verify(request.body, request.headers)

    own_id = request.headers["webhook-id"].removeprefix("msg_")
    answer = client.get(f"/api/messages/{own_id}", {"secret": body["secret"]}).json()

    assert answer["errcode"] == 0
    found = answer["message"]
    assert (found["direction"], found["msgtype"], found["conversation_id"]) == (
        "in",
        body["msgtype"],
        body["conversation_id"],
    )
    # An agent's id stays in the body; without one the body carries botadmin's.
    assert body["msgid"] == (agents_msgid or own_id)
    assert found["upstream_msgid"] == (agents_msgid or "")


@pytest.mark.parametrize("status, outcome", [(200, "success"), (500, "failure")])
def test_a_binary_answer_is_recorded_readable(hooked_bot, receiver, record, status, outcome):
    # An endpoint answering an image or gzip: PostgreSQL refuses the NUL bytes as text.
    receiver.respond(status, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    delivery = record(hooked_bot)

    assert attempt_delivery(delivery.pk) == outcome

    attempt = delivery.attempts.get()
    assert attempt.http_status == status
    assert attempt.response_text.startswith("\ufffdPNG") and "\x00" not in attempt.response_text


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "private or reserved address"),
        ("169.254.169.254", "link-local or unspecified address"),
    ],
)
def test_a_private_endpoint_is_refused_and_recorded_as_failed_with_the_reason(
    host, reason, make_bot, record, settings
):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    bot = make_bot(webhook_url=f"http://{host}/hook")
    delivery = record(bot)

    assert attempt_delivery(delivery.pk) == "refused"

    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert reason in delivery.last_error
    attempt = delivery.attempts.get()
    assert attempt.outcome == "refused" and host in attempt.response_text


@pytest.mark.parametrize(
    ("webhook_networks", "outcome"),
    [(["127.0.0.0/8"], "success"), ([], "refused"), (["10.0.0.0/8"], "refused")],
)
def test_a_receiver_on_a_private_network_is_reached_only_when_webhook_networks_list_it(
    hooked_bot, receiver, record, settings, webhook_networks, outcome
):
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_WEBHOOK_NETWORKS = webhook_networks
    delivery = record(hooked_bot)

    assert attempt_delivery(delivery.pk) == outcome

    attempt = delivery.attempts.get()
    if outcome == "success":
        assert len(receiver.requests) == 1
    else:
        assert receiver.requests == []
        assert "BOTADMIN_WEBHOOK_NETWORKS" in attempt.response_text
        assert "127.0.0.1" in attempt.response_text


def test_an_endpoint_whose_host_resolves_too_slowly_is_retried_with_the_reason(
    make_bot, record, hung_resolver
):
    bot = make_bot(webhook_url="https://hooks.hung.example/in")
    delivery = record(bot)

    assert attempt_delivery(delivery.pk) == "failure"

    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.retry_step == 1
    attempt = delivery.attempts.get()
    assert attempt.outcome == "failure" and attempt.duration_ms < 1000
    reason = "no answer from the endpoint: cannot resolve hooks.hung.example within 0.2 s"
    assert delivery.last_error == attempt.response_text == reason
    with translation.override("zh-hans"):
        assert (
            translate(delivery.last_error) == "端点没有应答：无法在 0.2 秒内解析 hooks.hung.example"
        )


def test_an_endpoint_failing_everything_for_3_days_is_disabled_and_resumes_when_re_enabled(
    hooked_bot, receiver, record
):
    # A message every 20 hours, each failing: failures never stop for a day.
    receiver.respond(500)
    start = timezone.now()
    endpoint = WebhookEndpoint.objects.get(bot=hooked_bot)
    with time_machine.travel(start, tick=False) as traveller:
        failed = []
        while timezone.now() < start + DISABLE_AFTER:
            failed.append(record(hooked_bot))
            assert attempt_delivery(failed[-1].pk) == "failure"
            endpoint.refresh_from_db()
            assert endpoint.disabled_at is None
            traveller.shift(timedelta(hours=20))
        assert endpoint.failing_since == start and endpoint.failure_streak == len(failed) == 4

        late = record(hooked_bot)  # 80 hours on
        attempt_delivery(late.pk)
        endpoint.refresh_from_db()
        assert endpoint.disabled_at is not None
        with translation.override("en"):
            assert translate(endpoint.disabled_reason) == (
                "Deliveries kept failing for 3 days: no success, and never 24 hours "
                "without a failure."
            )

        # While disabled, new messages wait; nothing is attempted or swept.
        waiting = record(hooked_bot)
        assert attempt_delivery(waiting.pk) is None
        traveller.shift(timedelta(hours=1))
        assert sweep_due_deliveries() == 0

        receiver.respond(200)
        assert reenable_endpoint(endpoint) == 6
        assert forward_due() == ["success"] * 6

    endpoint.refresh_from_db()
    assert endpoint.disabled_at is None and endpoint.failure_streak == 0
    assert endpoint.last_success_at is not None
    assert WebhookDelivery.objects.filter(status="delivered").count() == 6


def test_a_failure_after_a_quiet_spell_starts_the_failing_clock_again(hooked_bot, receiver, record):
    # Monday: one message fails. Nothing to deliver until Thursday, whose message fails too:
    # not three days of failing, so it is not disabled and gets its retries.
    receiver.respond(500)
    monday = timezone.now()
    endpoint = WebhookEndpoint.objects.get(bot=hooked_bot)
    with time_machine.travel(monday, tick=False) as traveller:
        assert attempt_delivery(record(hooked_bot).pk) == "failure"
        traveller.move_to(monday + timedelta(days=3, hours=1))
        thursday = record(hooked_bot)
        assert attempt_delivery(thursday.pk) == "failure"

        endpoint.refresh_from_db()
        assert endpoint.disabled_at is None
        assert endpoint.failing_since == timezone.now() and endpoint.failure_streak == 1
        _travel_to_next_attempt(traveller, thursday)
        assert attempt_delivery(thursday.pk) == "failure"  # retried

    endpoint.refresh_from_db()
    assert endpoint.disabled_at is None


def test_a_success_resets_the_failure_streak(hooked_bot, receiver, record):
    receiver.script([500, 200])
    attempt_delivery(record(hooked_bot).pk)
    endpoint = WebhookEndpoint.objects.get()
    endpoint.refresh_from_db()
    assert endpoint.failure_streak == 1 and endpoint.failing_since

    attempt_delivery(record(hooked_bot).pk)

    endpoint.refresh_from_db()
    assert endpoint.failure_streak == 0 and endpoint.failing_since is None


def test_a_delivery_is_attempted_once_however_often_it_is_woken(hooked_bot, receiver, record):
    delivery = record(hooked_bot)

    assert attempt_delivery(delivery.pk) == "success"
    assert attempt_delivery(delivery.pk) is None
    assert sweep_due_deliveries() == 0

    assert len(receiver.requests) == 1
    assert WebhookAttempt.objects.count() == 1


def test_the_sweeper_takes_back_a_delivery_whose_worker_vanished(hooked_bot, receiver, record):
    delivery = record(hooked_bot)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        # A worker claimed it (opening its attempt) and died mid-POST.
        assert [a.delivery.pk for a in claim_due_deliveries()] == [delivery.pk]
        assert delivery.attempts.get().outcome == "in_flight"
        assert sweep_due_deliveries() == 0 and attempt_delivery(delivery.pk) is None
        traveller.shift(CLAIM_LEASE + timedelta(seconds=1))
        assert sweep_due_deliveries() == 1
        assert attempt_delivery(delivery.pk) == "success"

    assert list(delivery.attempts.values_list("number", "outcome")) == [
        (1, "failure"),
        (2, "success"),
    ]
    assert delivery.attempts.first().response_text.startswith("interrupted")


def test_the_primary_endpoint_follows_the_bots_webhook_url(make_bot, receiver):
    bot = make_bot()
    assert not WebhookEndpoint.objects.exists()

    bot.webhook_url = receiver.url("/a")
    bot.save()
    assert WebhookEndpoint.objects.get(bot=bot, is_primary=True).url == receiver.url("/a")

    bot.webhook_url = receiver.url("/b")
    bot.save()
    endpoint = WebhookEndpoint.objects.get(bot=bot, is_primary=True)
    assert (endpoint.url, endpoint.is_active) == (receiver.url("/b"), True)

    bot.webhook_url = ""
    bot.save()
    endpoint.refresh_from_db()
    assert endpoint.is_active is False


def test_a_save_of_other_fields_leaves_the_primary_endpoint_on_the_url_stored_meanwhile(
    make_bot, receiver
):
    bot = make_bot(webhook_url=receiver.url("/a"))
    read_earlier = Bot.objects.get(pk=bot.pk)  # e.g. by a request changing the pace
    bot.webhook_url = receiver.url("/b")
    bot.save()

    read_earlier.rate_limit_per_minute = 7
    read_earlier.save(update_fields=["rate_limit_per_minute", "updated_at"])

    assert WebhookEndpoint.objects.get(bot=bot, is_primary=True).url == receiver.url("/b")


def test_a_new_webhook_url_re_enables_a_disabled_primary_endpoint_and_what_waited_goes_there(
    hooked_bot, receiver, record
):
    """The endpoint was disabled for failing; the operator points the bot elsewhere."""
    receiver.respond(500)
    failed = record(hooked_bot)
    assert attempt_delivery(failed.pk) == "failure"
    endpoint = WebhookEndpoint.objects.get(bot=hooked_bot, is_primary=True)
    endpoint.disabled_at, endpoint.disabled_reason = timezone.now(), "kept failing"
    endpoint.save()
    waited = record(hooked_bot)
    assert attempt_delivery(waited.pk) is None  # disabled: it waits

    with Receiver() as fixed:
        hooked_bot.webhook_url = fixed.url("/hook")
        hooked_bot.save()

        assert forward_due() == ["success", "success"]
        assert len(fixed.requests) == 2

    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.disabled_at, endpoint.failure_streak) == (
        fixed.url("/hook"),
        None,
        0,
    )


def test_an_endpoint_switched_off_gets_no_deliveries(hooked_bot, record):
    WebhookEndpoint.objects.update(is_active=False)

    assert record(hooked_bot) is None


def test_extra_endpoints_each_get_their_own_delivery(hooked_bot, record):
    with Receiver() as second:
        WebhookEndpoint.objects.create(bot=hooked_bot, url=second.url("/crm"))
        record(hooked_bot)
        assert forward_due() == ["success", "success"]
        assert len(second.requests) == 1


def test_a_worker_goes_on_with_other_due_deliveries_but_never_attempts_one_twice(
    hooked_bot, receiver, record
):
    deliveries = [record(hooked_bot) for _ in range(5)]
    receiver.script([500, 200])  # the first one fails and is due again in about 5 s

    assert forward_and_drain([deliveries[0].pk]) == 5

    assert len(receiver.requests) == 5
    assert WebhookDelivery.objects.filter(status="delivered").count() == 4
    assert forward_and_drain([deliveries[1].pk]) == 0


def test_a_message_whose_fan_out_wake_up_was_lost_is_forwarded_after_the_sweeper_finds_it(
    hooked_bot, receiver, post_callback
):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        # Stored and answered; its wake-up never reached a worker (dead broker, killed process).
        assert (
            post_callback(callback_body("text", hooked_bot, msgid="lost-1")).json()["errcode"] == 0
        )
        message = Message.objects.get(upstream_msgid="lost-1")
        assert message.forward_pending and not WebhookDelivery.objects.exists()
        assert sweep_due_deliveries() == 0  # fresh work is left to its own wake-up

        traveller.shift(timedelta(seconds=16))
        assert sweep_due_deliveries() == 1
        assert create_deliveries([message.pk]) == [
            WebhookDelivery.objects.get().pk
        ]  # what the woken task does
        assert create_deliveries([message.pk]) == []  # and again: nothing twice
        assert forward_due() == ["success"]

    message.refresh_from_db()
    assert not message.forward_pending
    assert sweep_due_deliveries() == 0
    assert len(receiver.requests) == 1


def test_an_endpoint_added_before_the_fan_out_gets_the_message(hooked_bot, post_callback):
    post_callback(callback_body("text", hooked_bot))
    with Receiver() as second:
        WebhookEndpoint.objects.create(bot=hooked_bot, url=second.url("/crm"), msgtypes=["image"])
        WebhookEndpoint.objects.create(bot=hooked_bot, url=second.url("/all"))
        create_pending_deliveries()
        assert forward_due() == ["success", "success"]
        assert [request.path for request in second.requests] == ["/all"]


def test_a_draining_worker_also_fans_out_messages_waiting_for_their_wake_up(
    hooked_bot, receiver, post_callback
):
    for n in range(3):
        post_callback(callback_body("text", hooked_bot, msgid=f"waiting-{n}"))

    # Woken for nothing in particular, the worker finds the three and forwards them.
    assert forward_and_drain([]) == 3
    assert len(receiver.requests) == 3
    assert not Message.objects.filter(forward_pending=True).exists()


@pytest.mark.parametrize("waiting", [1, 20])
def test_a_draining_worker_forwards_a_batch_of_waiting_messages_in_the_same_statements_as_one(
    hooked_bot, receiver, post_callback, monkeypatch, waiting
):
    # The answers of a batch are written together (not every RECORD_EVERY_SECONDS here).
    monkeypatch.setattr("forwarding.webhook_delivery.RECORD_EVERY_SECONDS", 3600)
    for n in range(waiting):
        post_callback(callback_body("text", hooked_bot, msgid=f"batch-{n}"))

    with CaptureQueriesContext(connection) as queries:
        assert forward_and_drain([]) == waiting

    assert len(receiver.requests) == waiting
    # Whatever the batch's size (one statement per row was most of forwarding's cost).
    statements = [q["sql"] for q in queries if not q["sql"].startswith(TRANSACTION_CONTROL)]
    assert len(statements) == STATEMENTS_TO_DRAIN_ONE_BATCH, statements


def test_an_endpoint_created_in_the_same_instant_a_message_is_stored_still_gets_it(
    hooked_bot, receiver, post_callback, django_capture_on_commit_callbacks
):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        post_callback(callback_body("text", hooked_bot, msgid="before"))
        traveller.shift(timedelta(seconds=1))
        post_callback(callback_body("text", hooked_bot, msgid="same-instant"))
        # Its fan-out ran before the new endpoint's creation was committed.
        create_pending_deliveries()
        with Receiver() as late:
            with django_capture_on_commit_callbacks(execute=True):
                WebhookEndpoint.objects.create(bot=hooked_bot, url=late.url("/late"))

            assert sorted(forward_due()) == ["success"] * 3
            assert [json.loads(r.body)["msgid"] for r in late.requests] == ["same-instant"]
    assert len(receiver.requests) == 2  # the primary endpoint got both


def test_an_endpoint_that_received_nothing_for_3_days_is_not_failing(hooked_bot, receiver, record):
    endpoint = WebhookEndpoint.objects.get(bot=hooked_bot)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert attempt_delivery(record(hooked_bot).pk) == "success"
        traveller.shift(DISABLE_AFTER + timedelta(days=1))  # quiet: nothing to deliver
        receiver.script([500])
        assert attempt_delivery(record(hooked_bot).pk) == "failure"

    endpoint.refresh_from_db()
    assert endpoint.disabled_at is None
    assert (endpoint.failure_streak, endpoint.failing_since) == (1, endpoint.last_failure_at)


def test_one_claim_takes_a_batch_and_opens_an_attempt_for_each(hooked_bot, receiver, record):
    deliveries = [record(hooked_bot) for _ in range(5)]

    claimed = claim_due_deliveries()

    assert [a.delivery.pk for a in claimed] == [d.pk for d in deliveries]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivering"}
    assert set(WebhookAttempt.objects.values_list("number", "outcome")) == {(1, "in_flight")}
    assert claim_due_deliveries() == []  # each is claimed once


class EchoingReceiver(Receiver):
    """A receiver refusing what it gets with the body in its answer, after `padding` bytes."""

    padding = 0

    def handle(self, request):
        super().handle(request)
        return Answer(400, b"x" * self.padding + b"invalid event: " + request.body)


@pytest.mark.parametrize("padding", [0, KEEP_BYTES - 46], ids=["whole", "cut-inside-the-secret"])
def test_an_answer_echoing_the_event_is_kept_without_the_bots_secret(make_bot, record, padding):
    # Every operator of the bot reads the answers; only its bot admins may see the secret.
    with EchoingReceiver() as echo:
        echo.padding = padding
        bot = make_bot(webhook_url=echo.url("/hook"))
        delivery = record(bot)

        assert attempt_delivery(delivery.pk) == "failure"

    answer = delivery.attempts.get().response_text
    assert "invalid event: " in answer and bot.secret[:8] not in answer
    assert json.loads(echo.requests[0].body)["secret"] == bot.secret  # the receiver still gets it


def test_an_endpoint_not_sent_the_api_secret_gets_a_dash_and_the_bots_others_the_secret(
    hooked_bot, receiver, record
):
    """docs/webhooks.md, "The API secret in the body": the body's `secret` is the seed's
    "-" for that endpoint; the rest of the body, and its signature, are as ever."""
    with Receiver() as not_told:
        withheld = WebhookEndpoint.objects.create(
            bot=hooked_bot, url=not_told.url("/crm"), sends_api_secret=False
        )
        record(hooked_bot, text={"content": "订单 42-7 – 退款"})
        assert forward_due() == ["success", "success"]

    (told,) = receiver.requests
    (request,) = not_told.requests
    assert json.loads(told.body)["secret"] == hooked_bot.secret
    assert request.verifies_with(withheld.signing_secret)
    body = json.loads(request.body)
    assert body["secret"] == "-"
    assert hooked_bot.secret[:8] not in request.body.decode()
    assert {**body, "secret": hooked_bot.secret} == json.loads(told.body)
    assert request.headers["webhook-id"] == told.headers["webhook-id"]


def test_an_answer_to_a_body_without_the_secret_is_kept_as_it_is_and_still_masks_the_secret(
    make_bot, record
):
    """The answer was masked of the body's `secret`: "-" would have masked every dash."""
    with EchoingReceiver() as echo:
        bot = make_bot(webhook_url=echo.url("/hook"))
        WebhookEndpoint.objects.update(sends_api_secret=False)
        delivery = record(bot, text={"content": f"2024-06-01 - {bot.secret}"})

        assert attempt_delivery(delivery.pk) == "failure"

    answer = delivery.attempts.get().response_text
    assert '"secret":"-"' in answer and '"content":"2024-06-01 - ' in answer
    assert bot.secret[:8] not in answer  # quoted back from elsewhere: masked all the same
