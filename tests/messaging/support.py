"""Helpers for inbound and forwarding tests: seed-format bodies and running due deliveries."""

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone

from botadmin.wakeups import Task, forget_awaited
from forwarding.endpoints import create_deliveries
from forwarding.models import WebhookDelivery
from forwarding.webhook_delivery import attempt_delivery
from messaging.models import Message

CALLBACKS = Path(__file__).parent / "callbacks"
SEED_MSGTYPES = ("text", "image", "miniprogram", "link")


def callback_body(msgtype: str, bot=None, **overrides) -> dict:
    """A seed-format callback body from tests/messaging/callbacks/, with the bot's secret."""
    body = json.loads((CALLBACKS / f"{msgtype}.json").read_text())
    if bot is not None:
        body["secret"] = bot.secret
    body.update(overrides)
    return body


def create_pending_deliveries() -> list[int]:
    """What the worker woken by /api/callback does first: create the messages' deliveries."""
    pending = Message.objects.filter(forward_pending=True).values_list("pk", flat=True)
    return create_deliveries(list(pending))


def forward_due() -> list[str | None]:
    """What a worker does for each due delivery (the task body), run inline."""
    create_pending_deliveries()
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
    ).values_list("pk", flat=True)
    return [attempt_delivery(pk) for pk in list(due)]


class _CaughtUp:
    """Handed to the publisher thread behind what waits there: its publish says the thread
    published everything handed to it before."""

    name = "tests.publisher_caught_up"
    merges_ids = drains = False

    def __init__(self):
        self.done = threading.Event()

    def apply_async(self, *args, **kwargs) -> None:
        self.done.set()


def publisher_caught_up(timeout: float = 30) -> bool:
    """Whether this process's publisher thread (botadmin/wakeups.py) published, within
    `timeout` seconds, every call the commits so far handed it."""
    pending = Task.publishers.get(os.getpid())
    if pending is None:
        return True
    marker = _CaughtUp()
    pending.put((marker, (), {}))
    return marker.done.wait(timeout)


def purge_broker() -> int:
    """Empty the test broker's queues of what earlier tests of this process left: once the
    publisher thread published what their commits handed it, else those wake-ups arrive
    after the purge; and its publisher awaits none of them (purged, they never start, and
    while one is awaited the next wake-up of its task is held back)."""
    from celery import current_app

    publisher_caught_up()
    purged = current_app.control.purge()
    forget_awaited()
    return purged


def delivery_wake_ups_waiting() -> int:
    """Task messages waiting in the default queue (the delivery wake-ups')."""
    from celery import current_app

    return task_messages_waiting(current_app.conf.task_default_queue)


def task_messages_waiting(queue: str) -> int:
    """Task messages waiting in `queue` of the test broker.

    Not a passive declare: kombu's Redis transport checks the queue's existence
    with EXISTS, which its global key prefix (one per xdist worker) does not
    cover, so it looked at another process's queue, or found none."""
    from celery import current_app

    with current_app.connection_for_read() as connection:
        return connection.default_channel.queue_declare(queue).message_count


@dataclass
class TaskMessage:
    task: str
    args: list
    eta: str | None  # a countdown's


def take_task_messages(queue: str, *, wait: float, until=None) -> list[TaskMessage]:
    """The task messages on `queue` of the test broker, taken off it (acknowledged): read
    for `wait` seconds, or until `until(taken so far)` is true. Wake-ups of earlier tests
    in this process may still arrive (the publisher thread sends after their commits;
    `purge_broker` waits for those handed to it, not for commits still to come, as a live
    server's): look for your own ids, never for an empty queue."""
    from celery import current_app

    taken: list[TaskMessage] = []
    deadline = time.monotonic() + wait
    with current_app.connection_for_read() as connection:
        messages = connection.SimpleQueue(queue)
        while time.monotonic() < deadline and not (until and until(taken)):
            try:
                message = messages.get(timeout=0.2)
            except messages.Empty:
                continue
            message.ack()
            headers = message.headers
            taken.append(TaskMessage(headers.get("task"), message.decode()[0], headers.get("eta")))
        messages.close()
    return taken


def full_disk(*args, **kwargs):
    """Stands in for a prometheus_client call whose files cannot grow (a full disk)."""
    raise OSError(28, "No space left on device")


def primary_signing_secret(bot) -> str:
    """What the receiver at the bot's webhook URL verifies with: that endpoint's own secret."""
    return bot.webhook_endpoints.get(is_primary=True).signing_secret
