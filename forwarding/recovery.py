"""Forward to an endpoint the messages it missed (Svix's "Recover failed messages"): those
stored while it was switched off, which it has no delivery of, and those whose delivery to
it failed (an endpoint disabled after days of failures).

Through the outbox like every other delivery: a delivery row per (message, endpoint),
which the unique constraint keeps to one, so running it twice, or for a message the
endpoint already has, never sends anything twice; a failed delivery is queued again under
its webhook-id. Bounded: messages of the last RECOVER_DAYS, at most RECOVER_AT_MOST of
them a time (the oldest first; running it again takes the next ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from audit.services import record_action
from messaging.models import Message

from .models import WebhookDelivery, WebhookEndpoint

RECOVER_DAYS = 7
RECOVER_AT_MOST = 10_000

Status = WebhookDelivery.Status


@dataclass
class Missed:
    since: datetime
    message_ids: list[int]  # no delivery to the endpoint yet, oldest first
    failed_ids: list[int]  # deliveries to it that failed, oldest message first

    @property
    def count(self) -> int:
        return len(self.message_ids) + len(self.failed_ids)


def earliest(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=RECOVER_DAYS)


def default_since(endpoint: WebhookEndpoint, now: datetime | None = None) -> datetime:
    """When forwarding to the endpoint last stopped (switched off, or the failures that
    disabled it began), within the last RECOVER_DAYS; else RECOVER_DAYS ago."""
    return max(endpoint.stopped_at or earliest(now), earliest(now))


def may_recover(endpoint: WebhookEndpoint) -> bool:
    """Only to an endpoint that forwards again: an off one is queued nothing."""
    return endpoint.is_active and endpoint.disabled_at is None


def missed(endpoint: WebhookEndpoint, since: datetime, now: datetime | None = None) -> Missed:
    """The inbound messages of the endpoint's bot stored since `since` (RECOVER_DAYS at
    most) that it accepts and did not get: at most RECOVER_AT_MOST, the oldest first."""
    since = max(since, earliest(now))
    messages = Message.objects.filter(
        bot_id=endpoint.bot_id,
        direction=Message.Direction.IN,
        forward_pending=False,  # a pending fan-out gives it its delivery anyway
        created_at__gte=since,
    )
    if endpoint.msgtypes:
        messages = messages.filter(msgtype__in=endpoint.msgtypes)
    delivery = WebhookDelivery.objects.filter(endpoint=endpoint, message=OuterRef("pk"))
    rows = list(
        messages.annotate(has=Exists(delivery))
        .filter(Exists(delivery.filter(status=Status.FAILED)) | ~Exists(delivery))
        .order_by("created_at", "pk")
        .values_list("pk", "has")[:RECOVER_AT_MOST]
    )
    failed_messages = [pk for pk, has in rows if has]
    failed_of = dict(
        WebhookDelivery.objects.filter(
            endpoint=endpoint, message_id__in=failed_messages, status=Status.FAILED
        ).values_list("message_id", "pk")
    )
    return Missed(
        since=since,
        message_ids=[pk for pk, has in rows if not has],
        failed_ids=[failed_of[pk] for pk in failed_messages if pk in failed_of],
    )


def recover_missed(actor, endpoint: WebhookEndpoint, since: datetime) -> int:
    """Queue for the endpoint what it missed since `since` (`missed`); returns how many.
    Audited with the count and the period when it queued any. Nothing for an endpoint still off or disabled."""
    from .drains import wake_endpoints
    from .replay import queue_again

    if not may_recover(endpoint):
        return 0
    now = timezone.now()
    found = missed(endpoint, since, now)
    with transaction.atomic():
        # Due in the order the messages were stored, a microsecond apart: the claim takes
        # the longest due first, so they go out oldest first, as forwarding sends them.
        created = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    message_id=pk,
                    endpoint=endpoint,
                    next_attempt_at=now + timedelta(microseconds=n),
                )
                for n, pk in enumerate(found.message_ids)
            ],
            ignore_conflicts=True,  # a fan-out or a second recovery made it meanwhile
        )
        queued = WebhookDelivery.objects.filter(
            endpoint=endpoint, message_id__in=[d.message_id for d in created], created_at__gte=now
        ).count()
        queued += queue_again(
            WebhookDelivery.objects.filter(pk__in=found.failed_ids, status=Status.FAILED), now
        )
        if queued:  # a run that found nothing left changed nothing
            record_action(
                actor,
                "endpoint.recover_missed",
                bot=endpoint.bot,
                target=endpoint,
                summary=f"Forwarding {queued} missed messages to {endpoint.url}",
                details={
                    "count": queued,
                    "start": found.since.isoformat(),
                    "end": now.isoformat(),
                },
            )
            wake_endpoints([endpoint.pk])
    return queued
