"""messaging/tasks.py: the delivery wake-ups a drain leaves behind."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from botadmin.celery import app as celery_app
from messaging.tasks import deliver_messages, wake_at
from tests.messaging.support import delivery_wake_ups_waiting


def test_a_wake_up_paced_later_within_the_same_second_is_published(transactional_db):
    # A wake-up's drain finds its message paced a little later (the conversation's gap):
    # that later time needs a wake-up of its own, or the queue waits for the sweeper.
    celery_app.control.purge()
    second = math.ceil(time.time()) + 2
    first, paced = second + 0.1, second + 0.6
    wake_at(datetime.fromtimestamp(first, UTC))
    wake_at(datetime.fromtimestamp(paced, UTC))

    assert delivery_wake_ups_waiting() == 2


def test_workers_finishing_together_publish_one_wake_up(transactional_db):
    celery_app.control.purge()
    due = datetime.fromtimestamp(math.ceil(time.time()) + 2.25, UTC)
    wake_at(due)
    wake_at(due)

    assert delivery_wake_ups_waiting() == 1


TEXT = {"msgtype": "text", "text": {"content": "hi"}}


def test_a_drain_leaving_a_paced_message_publishes_its_wake_up(
    agent, bridge_bot, make_conversation, queue_message
):
    first = queue_message(make_conversation(bridge_bot, "wrA"), TEXT)
    paced = queue_message(make_conversation(bridge_bot, "wrB"), TEXT)  # 20 a minute: 3 s later
    celery_app.control.purge()

    assert deliver_messages([first.pk, paced.pk]) == 1

    paced.refresh_from_db()
    assert paced.status == "queued" and paced.next_attempt_at is not None
    assert delivery_wake_ups_waiting() == 1
