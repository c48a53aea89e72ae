"""Celery tasks of contact sync: thin wrappers around conversations.sync."""

from celery import shared_task

from . import sync


@shared_task(name="conversations.run_sync")
def run_sync(run_id: int) -> None:
    """Carry out one pending sync run (a repeat of the same id does nothing)."""
    sync.run_sync(run_id)


@shared_task(name="conversations.sync_due_bots")
def sync_due_bots() -> None:
    """Every minute: recover lost or abandoned runs and start the syncs that are due."""
    sync.sync_due_bots()
