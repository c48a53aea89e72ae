"""Celery tasks: thin wrappers around messaging.delivery and messaging.sweeper."""

import logging

from celery import shared_task

from . import delivery, sweeper
from .outbox import DELIVER_TASK

logger = logging.getLogger(__name__)

# Longer waits are left to the sweeper: a broker may redeliver a task held
# for longer than its visibility timeout (Redis: one hour).
MAX_COUNTDOWN_SECONDS = 600


@shared_task(name=DELIVER_TASK, ignore_result=True)
def deliver_message(message_id: int) -> str:
    step = delivery.deliver(message_id)
    wake(step.wake)
    return step.result


@shared_task(name="messaging.sweep_deliveries", ignore_result=True)
def sweep_deliveries() -> int:
    due = sweeper.sweep()
    wake([(pk, 0.0) for pk in due])
    return len(due)


def wake(items: list[tuple[int, float]]) -> None:
    for message_id, delay in items:
        if delay > MAX_COUNTDOWN_SECONDS:
            continue
        try:
            deliver_message.apply_async(args=[message_id], countdown=delay or None)
        except Exception:
            logger.warning(
                "Broker unavailable; message %s waits for the sweeper.", message_id, exc_info=True
            )
