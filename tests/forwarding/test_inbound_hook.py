"""How a stored inbound message reaches the forwarder: the signal
`messaging.signals.inbound_message_stored`, sent once the message is committed,
wakes the forwarding worker; the sweeper finds a message whose wake-up was lost."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from forwarding.drains import sweep_due_deliveries
from forwarding.tasks import forward_messages
from messaging.models import Message
from tests.messaging.support import callback_body, purge_broker, take_task_messages


def published_ids(task: str, *, wait: float, until: int | None = None) -> list[int]:
    """The ids of the `task` messages on forwarding's queue, read for `wait` seconds or
    until `until` is among them."""

    def ids(messages):
        return [pk for m in messages if m.task == task for pk in m.args[0]]

    return ids(take_task_messages("forwarding", wait=wait, until=lambda m: until in ids(m)))


@pytest.fixture
def empty_queue():
    purge_broker()
    yield
    purge_broker()


def test_a_stored_inbound_message_wakes_the_forwarder_once_it_is_committed(
    hooked_bot, post_callback, empty_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as on_commit:
        assert post_callback(callback_body("text", hooked_bot)).json()["errcode"] == 0
    message = Message.objects.get(direction=Message.Direction.IN)
    assert message.forward_pending

    assert message.pk not in published_ids(forward_messages.name, wait=1)  # not before the commit

    with django_capture_on_commit_callbacks(execute=True):  # the commit, as in production
        for callback in on_commit:
            callback()
    assert message.pk in published_ids(forward_messages.name, wait=10, until=message.pk)


def test_an_inbound_message_whose_wake_up_was_lost_is_found_by_the_sweeper(
    hooked_bot, post_callback, empty_queue
):
    # The test's transaction never commits, so no wake-up is sent: as if it were lost.
    assert post_callback(callback_body("text", hooked_bot)).json()["errcode"] == 0
    message = Message.objects.get(direction=Message.Direction.IN)

    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        sweep_due_deliveries()

    assert message.pk in published_ids(forward_messages.name, wait=10, until=message.pk)
