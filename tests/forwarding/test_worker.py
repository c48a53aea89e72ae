"""End to end with a real Celery worker process: callback → commit → broker → worker → receiver.

Runs against whatever the suite is configured with (SQLite and the filesystem
broker, or PostgreSQL and Redis): the worker gets the test database's URL and
the same broker.
"""

import json
import os
import signal
import time
from datetime import timedelta

import pytest
import requests
import time_machine
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from botadmin import health, wakeups
from botadmin.wakeups import Task
from devtools.processes import celery_worker, database_url, stop_process_group
from forwarding.drains import sweep_due_deliveries
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from forwarding.tasks import forward_messages
from forwarding.webhook_delivery import CLAIM_LEASE
from messaging.models import Message
from messaging.outbox import INTERRUPTED
from messaging.tasks import deliver_messages
from tests.messaging.support import (
    callback_body,
    delivery_wake_ups_waiting,
    primary_signing_secret,
    purge_broker,
    take_task_messages,
    task_messages_waiting,
)
from tests.polling import wait_until


@pytest.fixture
def start_worker(transactional_db):
    processes = []

    def start(pool: str = "threads"):
        process = celery_worker(
            pool=pool,
            concurrency=4 if pool == "threads" else 2,
            env={
                "DATABASE_URL": database_url(),
                "BOTADMIN_ALLOW_PRIVATE_URLS": "1",
                "CONN_MAX_AGE": "0",
                # As in-process tests (tests/conftest.py): images go out without a copy.
                "BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS": "0",
            },
        )
        processes.append(process)
        return process

    purge_broker()  # wake-ups left by earlier tests
    cache.delete(health.HEARTBEAT_KEY.format(role="worker"))
    yield start
    for process in processes:
        stop_process_group(process, timeout=0)  # killed: nothing to wait for


def worker_ready() -> bool:
    """The worker has written its first heartbeat, which it does once it consumes."""
    return cache.get(health.HEARTBEAT_KEY.format(role="worker")) is not None


def test_a_callback_reaches_the_receiver_through_a_real_worker_and_its_retry_too(
    live_server, hooked_bot, receiver, start_worker
):
    start_worker()
    receiver.script([500, 200])
    sent = callback_body("text", hooked_bot)

    answer = requests.post(live_server.url + "/api/callback", json=sent, timeout=10)

    assert answer.json() == {"errcode": 0, "errmsg": "ok"}
    # The first answer is a 500; the retry after about 5 s rides on the broker's countdown.
    first, second = receiver.wait_for(2, timeout=60)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert Webhook(primary_signing_secret(hooked_bot)).verify(second.body, second.headers) == sent
    delivery = WebhookDelivery.objects.get()
    assert wait_until(lambda: WebhookDelivery.objects.get().status == "delivered", 10)
    assert list(delivery.attempts.values_list("http_status", flat=True)) == [500, 200]


def test_a_lost_wake_up_is_recovered_by_the_sweeper(
    live_server, hooked_bot, receiver, start_worker
):
    # Stored while no worker runs, and the wake-up is lost with the broker's queue.
    sent = callback_body("image", hooked_bot)
    requests.post(live_server.url + "/api/callback", json=sent, timeout=10)
    # The server's publisher thread sends the wake-ups (an image has two: its media
    # fetch and its forwarding) a moment after the answer: purge until they were there
    # to lose and nothing more arrived for a second.
    assert purge_until_quiet() > 0
    start_worker()
    assert wait_until(worker_ready)
    assert not wait_until(lambda: receiver.requests, timeout=1)  # the worker alone sends nothing

    with time_machine.travel(timezone.now() + timedelta(seconds=20)):
        assert sweep_due_deliveries() == 1

    (request,) = receiver.wait_for(1, timeout=60)
    assert request.headers["webhook-id"] == WebhookDelivery.objects.get().webhook_id


def purge_until_quiet(quiet: float = 1.0, timeout: float = 10.0) -> int:
    """Purge the broker's queue until something was purged and then nothing for `quiet` s."""
    purged, last = 0, time.monotonic()
    deadline = last + timeout
    while time.monotonic() < deadline:
        count = current_app.control.purge()
        if count:
            purged, last = purged + count, time.monotonic()
        elif purged and time.monotonic() - last >= quiet:
            return purged
        time.sleep(0.05)
    return purged


def test_a_worker_killed_mid_post_is_forwarded_again_by_the_next_sweep_not_after_its_lease(
    live_server, hooked_bot, receiver, start_worker
):
    doomed = start_worker()
    receiver.delay = 20  # the receiver takes the POST at once and answers late
    requests.post(
        live_server.url + "/api/callback", json=callback_body("text", hooked_bot), timeout=10
    )
    (first,) = receiver.wait_for(1, timeout=60)
    (killed,) = WebhookAttempt.objects.values_list("worker", flat=True)
    os.killpg(doomed.pid, signal.SIGKILL)  # mid-POST: no answer recorded
    doomed.wait(timeout=10)
    receiver.delay = 0
    start_worker()

    # Its lease (CLAIM_LEASE) has not run out; its process is gone, so the sweep takes it.
    assert WebhookDelivery.objects.get().next_attempt_at > timezone.now() + CLAIM_LEASE / 2
    assert sweep_due_deliveries() == 1

    second = receiver.wait_for(2, timeout=60)[1]
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert wait_until(lambda: WebhookDelivery.objects.get().status == "delivered", 10)
    attempts = list(
        WebhookAttempt.objects.order_by("number").values_list("outcome", "response_text", "worker")
    )
    # Every try is on record, the killed one first: opened at its claim, with its process.
    assert attempts[0] == ("failure", INTERRUPTED, killed)
    assert [outcome for outcome, _, _ in attempts] == ["failure", "success"]
    assert attempts[1][2] not in ("", killed)


@pytest.mark.skipif(
    settings.CELERY_WORKER_POOL != "prefork", reason="only a prefork pool has children to lose"
)
def test_a_pool_child_killed_mid_post_hands_its_delivery_on_without_a_sweep(
    live_server, hooked_bot, receiver, start_worker
):
    worker = start_worker(pool="prefork")
    receiver.delay = 20  # the receiver takes the POST at once and answers late
    requests.post(
        live_server.url + "/api/callback", json=callback_body("text", hooked_bot), timeout=10
    )
    (first,) = receiver.wait_for(1, timeout=60)
    (killed,) = WebhookAttempt.objects.values_list("worker", flat=True)
    assert int(killed.rpartition(":")[2]) != worker.pid  # a pool child's
    receiver.delay = 0

    os.kill(int(killed.rpartition(":")[2]), signal.SIGKILL)  # mid-POST, as the OOM killer would

    # Its task message comes back at once (acks_late) and takes the delivery back: no
    # sweep runs, and its lease (CLAIM_LEASE) is far from over.
    second = receiver.wait_for(2, timeout=30)[1]
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert wait_until(lambda: WebhookDelivery.objects.get().status == "delivered", 10)
    outcomes = list(WebhookAttempt.objects.order_by("number").values_list("outcome", "worker"))
    assert outcomes[0] == ("failure", killed) and outcomes[1][0] == "success"


def test_a_backlog_of_delivery_wake_ups_never_delays_forwarding(
    live_server, hooked_bot, receiver, start_worker
):
    # As after a burst: wake-ups queued while the workers caught up, each of which
    # will find nothing to send. Forwarding's tasks have a queue of their own.
    # A wake-up that finds nothing takes a millisecond or two: enough of them that most
    # still wait when the sweep runs, even on a loaded machine whose beat starts slowly.
    backlog = 5000
    for _ in range(backlog):
        deliver_messages.apply_async([[]])
    sent = callback_body("text", hooked_bot)
    assert requests.post(live_server.url + "/api/callback", json=sent, timeout=10).ok
    # Its wake-up is published by a thread of this process after the answer: this test is
    # about the worker's queues, so it starts the worker once the wake-up is there.
    assert wait_until(lambda: task_messages_waiting("forwarding") > 0, 30)

    start_worker()

    receiver.wait_for(1, timeout=60)
    waiting = delivery_wake_ups_waiting()
    assert waiting > backlog / 2, f"forwarded after {backlog - waiting} of {backlog} wake-ups"


def test_a_burst_of_callbacks_wakes_the_forwarder_with_a_few_task_messages_and_forwards_each_once(
    live_server, hooked_bot, receiver, start_worker, monkeypatch
):
    # Two endpoints; the callbacks arrive while the forwarder is busy elsewhere (here: not
    # running), so their first wake-up waits in the broker and holds back the rest (for a
    # minute here: however slow this machine, longer than the burst).
    monkeypatch.setattr(wakeups, "START_AWAITED_SECONDS", 60)
    WebhookEndpoint.objects.create(bot=hooked_bot, url=receiver.url("/second"))
    burst = 60
    for n in range(burst):
        sent = callback_body("text", hooked_bot, msgid=f"burst-{n}")
        assert requests.post(live_server.url + "/api/callback", json=sent, timeout=10).ok
    assert wait_until(Task.publishers[os.getpid()].empty, 30)
    ours = set(Message.objects.values_list("pk", flat=True))

    def of_the_burst(taken):
        return [m for m in taken if m.task == forward_messages.name and ours & set(m.args[0])]

    # Taken off the broker to be told from wake-ups an earlier test's commits published late
    # (counting every task message waiting counted them too).
    taken = take_task_messages("forwarding", wait=30, until=of_the_burst)
    taken += take_task_messages("forwarding", wait=1)  # any other would be there by now
    woken = of_the_burst(taken)
    wake_ups = len(woken)
    for wake_up in woken:  # put back: the burst's wake-ups
        forward_messages.apply_async(wake_up.args)

    start_worker()

    received = receiver.wait_for(2 * burst, timeout=120)
    assert not wait_until(lambda: len(receiver.requests) > 2 * burst, timeout=1)
    assert wake_ups <= burst // 10, f"{wake_ups} task messages for {burst} callbacks"
    expected = sorted(f"burst-{n}" for n in range(burst))
    for path in ("/hook", "/second"):
        at_path = [request for request in received if request.path == path]
        assert sorted(json.loads(request.body)["msgid"] for request in at_path) == expected
        # Each message under its one webhook-id, the same at both endpoints.
        assert len({request.headers["webhook-id"] for request in at_path}) == burst
    deliveries = WebhookDelivery.objects.select_related("message")
    assert len(deliveries) == 2 * burst
    assert {d.webhook_id for d in deliveries} == {r.headers["webhook-id"] for r in received}
    assert {(d.status, d.attempt_count) for d in deliveries} == {("delivered", 1)}
