"""Celery tasks for forwarding: thin wrappers that take ids (the logic is in drains.py and
webhook_delivery.py).

The older ones' names keep the `messaging.` prefix of the time forwarding was part of
messaging: a renamed task would strand the task messages already queued under its old
name.
"""

from celery import shared_task
from django.utils import timezone

from messaging.outbox import redelivered

from .drains import (
    drain_endpoints,
    end_dead_workers_leases,
    forward_and_drain,
    sweep_due_deliveries,
)
from .endpoints import create_deliveries


@shared_task(name="messaging.forward_deliveries", ignore_result=True)
def forward_deliveries(delivery_ids: list[int]) -> int:
    if redelivered(forward_deliveries):
        end_dead_workers_leases(timezone.now())
    return forward_and_drain(delivery_ids)


@shared_task(name="messaging.forward_messages", ignore_result=True, merges_ids=True, drains=True)
def forward_messages(message_ids: list[int]) -> int:
    """Fan these messages out, then every other message waiting for its fan-out and every
    due delivery (`forward_and_drain`): a process publishes no more of these while its last
    one waits in the broker (`drains`, botadmin/wakeups.py)."""
    if redelivered(forward_messages):
        end_dead_workers_leases(timezone.now())
    return forward_and_drain(create_deliveries(message_ids))


@shared_task(name="forwarding.forward_endpoint_deliveries", ignore_result=True, merges_ids=True)
def forward_endpoint_deliveries(endpoint_ids: list[int]) -> int:
    """The due deliveries of these endpoints, a batch after the other; endpoints with more
    due when the drain's time is up are handed to a fresh task, behind what else waits."""
    if redelivered(forward_endpoint_deliveries):
        end_dead_workers_leases(timezone.now())
    drained = drain_endpoints(endpoint_ids)
    if drained.more:
        forward_endpoint_deliveries.delay(drained.more)
    return drained.attempts


@shared_task(name="messaging.sweep_webhook_deliveries", ignore_result=True)
def sweep_webhook_deliveries() -> int:
    """Wake the drains of due deliveries, and resume the "Forward the messages it missed"
    runs whose task was lost (forwarding/recovery.py)."""
    from .recovery import resume_stalled_runs

    return sweep_due_deliveries() + len(resume_stalled_runs())


@shared_task(name="forwarding.purge_old_deliveries", ignore_result=True)
def purge_old_deliveries() -> int:
    """Nightly: delivered and failed webhook deliveries past their retention."""
    from .retention import purge_old_deliveries

    purged = purge_old_deliveries()
    return purged.delivered + purged.failed


@shared_task(name="forwarding.recover_missed", ignore_result=True)
def recover_missed_rest(action_id: int) -> None:
    """The batches after the first of a "Forward the messages it missed" run (its audit
    entry's id), one transaction each; after RECOVER_BATCHES_PER_TASK of them a fresh task
    takes the rest, behind the deliveries waiting on the forwarding queue. Run twice, or
    again after its worker was killed, it queues only what is still missed
    (forwarding/recovery.py)."""
    from .recovery import RECOVER_BATCHES_PER_TASK, recover_next_batch

    for _ in range(RECOVER_BATCHES_PER_TASK):
        if recover_next_batch(action_id):
            return
    recover_missed_rest.delay(action_id)
