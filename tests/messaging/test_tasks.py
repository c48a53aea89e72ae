"""messaging/tasks.py: the delivery wake-ups a drain leaves behind."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from botadmin.celery import app as celery_app
from messaging.tasks import deliver_messages, wake_at
from tests.messaging.support import TaskMessage, purge_broker, take_task_messages


def wake_ups_naming_no_message() -> list[TaskMessage]:
    """The delivery wake-ups for whatever is due (`wake_at`'s, a drain's hand-on) on the
    default queue, taken off it; published at once, so all there. Wake-ups that earlier
    tests of this process published after their commits name their messages, and may
    arrive after the purge: counting every task message waiting counted them too."""
    taken = take_task_messages(celery_app.conf.task_default_queue, wait=1)
    return [m for m in taken if m.task == deliver_messages.name and m.args == [[]]]


def test_a_wake_up_paced_later_within_the_same_second_is_published(transactional_db):
    # A wake-up's drain finds its message paced a little later (the conversation's gap):
    # that later time needs a wake-up of its own, or the queue waits for the sweeper.
    purge_broker()
    second = math.ceil(time.time()) + 2
    first, paced = second + 0.1, second + 0.6
    wake_at(datetime.fromtimestamp(first, UTC))
    wake_at(datetime.fromtimestamp(paced, UTC))

    woken = wake_ups_naming_no_message()
    assert len(woken) == 2 and len({m.eta for m in woken}) == 2 and all(m.eta for m in woken)


def test_workers_finishing_together_publish_one_wake_up(transactional_db):
    purge_broker()
    due = datetime.fromtimestamp(math.ceil(time.time()) + 2.25, UTC)
    wake_at(due)
    wake_at(due)

    (woken,) = wake_ups_naming_no_message()
    assert woken.eta


TEXT = {"msgtype": "text", "text": {"content": "hi"}}


def test_a_drain_leaving_a_paced_message_publishes_its_wake_up(
    agent, bridge_bot, make_conversation, queue_message
):
    first = queue_message(make_conversation(bridge_bot, "wrA"), TEXT)
    paced = queue_message(make_conversation(bridge_bot, "wrB"), TEXT)  # 20 a minute: 3 s later
    purge_broker()

    assert deliver_messages([first.pk, paced.pk]) == 1

    paced.refresh_from_db()
    assert paced.status == "queued" and paced.next_attempt_at is not None
    (woken,) = wake_ups_naming_no_message()  # on a countdown; no hand-on
    assert woken.eta
