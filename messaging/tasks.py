"""Celery tasks: thin wrappers around messaging.delivery, messaging.sweeper,
messaging.scheduled and the media archive."""

import math
from datetime import datetime

from celery import shared_task
from celery.utils.functional import chunks
from django.core.cache import cache
from django.utils import timezone

from . import delivery, media_fetch, scheduled, sweeper
from .outbox import redelivered

# Longer waits are left to the sweeper: a broker may redeliver a task held
# for longer than its visibility timeout (Redis: one hour).
MAX_COUNTDOWN_SECONDS = 600
# A sweep's ids go out in several tasks, so that several workers share them.
IDS_PER_TASK = 20


@shared_task(name="messaging.deliver_messages", ignore_result=True, merges_ids=True, drains=True)
def deliver_messages(message_ids: list[int]) -> int:
    """Deliver every due message, not only these (the ids say what woke the worker).

    It drains (`drains`, botadmin/wakeups.py): its run claims until nothing is due, so it
    finds every message committed before it started, and hands on to a fresh task when
    its time is up. One it finds not due yet (its pace, a retry: `wake_at`; behind an older
    message of its conversation, which the drain that records that one claims next) goes
    as it would have after a wake-up of its own, which would have found it so too."""
    if redelivered(deliver_messages):
        sweeper.recover_lost_sends(timezone.now())
    drained = delivery.drain()
    if drained.more:
        deliver_messages.delay([])  # a fresh task goes on, behind what else is queued
    elif drained.next_due is not None:
        wake_at(drained.next_due)
    return len(drained.results)


@shared_task(name="messaging.release_scheduled_messages", ignore_result=True)
def release_scheduled_messages() -> int:
    """Scheduled messages whose time has come (the API's `send_at`, an announcement's
    recipients held or in quiet hours) queued for delivery: one beat entry every
    BOTADMIN_SCHEDULER_INTERVAL seconds, and a wake-up when held ones become due."""
    return scheduled.release_due_messages()


@shared_task(name="messaging.sweep_deliveries", ignore_result=True)
def sweep_deliveries() -> int:
    due = sweeper.sweep()
    for ids in chunks(iter(due), IDS_PER_TASK):
        deliver_messages.delay(ids)
    return len(due)


def wake_at(due: datetime) -> None:
    """One wake-up for whatever is due at `due` (workers finishing together publish one).

    Keyed by the exact time, which workers finishing together read from the same row: a
    wake-up whose drain paced its message a little later (a conversation's gap) must
    publish the next one. Keyed by the second, its own key stopped that, and a paced
    queue then moved only with the sweeper (two messages a minute at 20 a minute)."""
    delay = max((due - timezone.now()).total_seconds(), 0.0)
    if delay > MAX_COUNTDOWN_SECONDS:
        return  # the sweeper's
    if cache.add(f"delivery:wake:{due.timestamp():.6f}", 1, timeout=math.ceil(delay) + 2):
        deliver_messages.apply_async([[]], countdown=delay)


@shared_task(name="messaging.purge_expired_messages", ignore_result=True)
def purge_expired_messages() -> int:
    """Nightly: messages past their retention, and the audit log past its own."""
    from . import retention

    return retention.purge_expired().messages


# A task fetches at most this many media, claimed together; wake-ups merged in a burst
# are handed on in tasks of this size, so that the worker's other slots share them.
FETCHES_PER_TASK = 10


@shared_task(name="messaging.fetch_media", ignore_result=True, merges_ids=True)
def fetch_media(media_ids: list[int]) -> list[str | None]:
    """Fetch received (or sent) media into the archive; safe to run twice.

    Wake-ups waiting together arrive as one call (`merges_ids`): this task claims the
    first FETCHES_PER_TASK and publishes the rest in tasks of that size."""
    for ids in chunks(iter(media_ids[FETCHES_PER_TASK:]), FETCHES_PER_TASK):
        fetch_media.delay(ids)
    return media_fetch.fetch_many(media_ids[:FETCHES_PER_TASK])


@shared_task(name="messaging.sweep_media", ignore_result=True)
def sweep_media() -> int:
    """Pending media due now: retries, lost wake-ups, dead workers' leases."""
    due = media_fetch.due_media()
    for ids in chunks(iter(due), IDS_PER_TASK):
        fetch_media.delay(ids)
    return len(due)


@shared_task(name="messaging.delete_expired_uploads", ignore_result=True)
def delete_expired_uploads() -> int:
    """Every BOTADMIN_UPLOAD_CLEANUP_INTERVAL seconds: uploads past their 3 days."""
    from . import uploads

    return uploads.delete_expired_uploads()


@shared_task(name="messaging.expire_media", ignore_result=True)
def expire_media() -> int:
    """Nightly: archived media past BOTADMIN_MEDIA_RETENTION_DAYS, files nothing shows
    any more."""
    from . import media_retention

    expired = media_retention.expire_media()
    media_retention.delete_orphaned_files()
    return expired
