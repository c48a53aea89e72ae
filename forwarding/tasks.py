"""Celery tasks for forwarding: thin wrappers that take ids (the logic is in delivery.py)."""

from celery import shared_task

from .delivery import FAN_OUT_TASK, FORWARD_TASK, forward_and_drain, sweep_due_deliveries
from .endpoints import fan_out


@shared_task(name=FORWARD_TASK, ignore_result=True)
def forward_deliveries(delivery_ids: list[int]) -> int:
    return forward_and_drain(delivery_ids)


@shared_task(name=FAN_OUT_TASK, ignore_result=True)
def forward_messages(message_ids: list[int]) -> int:
    return forward_and_drain(fan_out(message_ids))


@shared_task(name="messaging.sweep_webhook_deliveries", ignore_result=True)
def sweep_webhook_deliveries() -> int:
    return sweep_due_deliveries()
