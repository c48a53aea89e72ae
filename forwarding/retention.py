"""Retention of webhook deliveries: a delivered one is deleted
BOTADMIN_WEBHOOK_DELIVERED_RETENTION_DAYS after its delivery, a failed one
BOTADMIN_WEBHOOK_FAILED_RETENTION_DAYS after it failed (0: kept), with their attempts,
every night. The message stays (its own retention is messaging/retention.py's, which
takes its deliveries along).

A delivery still to go (pending) or leased by a worker (delivering) is never deleted:
only `delivered` and `failed` ones are, and each batch checks the status again, so one
replayed meanwhile stays. Batches are short transactions of
BOTADMIN_RETENTION_BATCH_SIZE deliveries (messaging.retention.delete_in_batches), found
endpoint by endpoint through the (endpoint, status, created_at) index: a delivery is
never delivered or failed before it was created, so only rows created before the limit
are read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from messaging.retention import delete_in_batches

from .models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status


@dataclass
class PurgedDeliveries:
    delivered: int = 0
    failed: int = 0


def purge_old_deliveries(now: datetime | None = None) -> PurgedDeliveries:
    """Delete the delivered and failed deliveries past their limits; how many of each."""
    now = now or timezone.now()
    purged = PurgedDeliveries()
    delivered_days = settings.BOTADMIN_WEBHOOK_DELIVERED_RETENTION_DAYS
    failed_days = settings.BOTADMIN_WEBHOOK_FAILED_RETENTION_DAYS
    for endpoint_id in WebhookEndpoint.objects.order_by("pk").values_list("pk", flat=True):
        if delivered_days:
            before = now - timedelta(days=delivered_days)
            purged.delivered += _delete(
                endpoint_id, Status.DELIVERED, before, delivered_at__lt=before
            )
        if failed_days:
            before = now - timedelta(days=failed_days)
            # A failed delivery's last change is its failing (a replay makes it pending).
            purged.failed += _delete(endpoint_id, Status.FAILED, before, updated_at__lt=before)
    logger.info(
        "Webhook retention: deleted %d delivered and %d failed deliveries",
        purged.delivered,
        purged.failed,
    )
    return purged


def _delete(endpoint_id: int, status: str, before: datetime, **since) -> int:
    rows = WebhookDelivery.objects.filter(
        endpoint_id=endpoint_id, status=status, created_at__lt=before, **since
    )
    return delete_in_batches(rows, order_by=("created_at", "pk"))
