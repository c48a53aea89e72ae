"""Operator actions on deliveries: replay one, replay the failed ones of a period, send a test event.

A replay sends the same message again under the same `webhook-id`, so a
receiver that already processed it can tell, and restarts the retry schedule.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from audit.services import record_action

from .models import WebhookDelivery, WebhookEndpoint
from .webhook_delivery import PostResult, post_signed, wake_deliveries

Status = WebhookDelivery.Status


def replay_deliveries(user, deliveries: QuerySet[WebhookDelivery]) -> int:
    """Queue these deliveries again (any not in flight right now). Returns how many."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            deliveries.exclude(status=Status.DELIVERING, next_attempt_at__gt=now)
            .select_related("endpoint__bot", "message")
            .select_for_update(of=("self",))  # not while a worker records an outcome
        )
        if not rows:
            return 0
        WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Status.PENDING,
            next_attempt_at=now,
            retry_step=0,
            replay_count=F("replay_count") + 1,
            updated_at=now,
        )
        for row in rows:
            record_action(
                user,
                "delivery.replay",
                bot=row.endpoint.bot,
                target=row,
                summary=f"Replayed {row.webhook_id} to {row.endpoint.url}",
                details={"webhook_id": row.webhook_id, "previous_status": row.status},
            )
        wake_deliveries(row.pk for row in rows)
    return len(rows)


def failed_deliveries(endpoint: WebhookEndpoint, start: datetime, end: datetime):
    """The failed deliveries of an endpoint for messages received in [start, end)."""
    return WebhookDelivery.objects.filter(
        endpoint=endpoint, status=Status.FAILED, created_at__gte=start, created_at__lt=end
    )


def send_test_event(endpoint: WebhookEndpoint) -> PostResult:
    """POST a signed sample text message to the endpoint now and return its answer.

    Not recorded as a delivery and not counted in the endpoint's health.
    """
    bot = endpoint.bot
    msgid = uuid.uuid4().hex
    payload = {
        "secret": bot.secret,
        "msgtype": "text",
        "conversation_id": "botadmin-test",
        "sender": "botadmin",
        "text": {"content": "botadmin test event"},
        "msgid": msgid,
        "timestamp": int(timezone.now().timestamp()),
        "conversation_type": "user",
        "conversation_name": "botadmin",
        "sender_name": "botadmin",
    }
    return post_signed(endpoint.url, bot.signing_secrets(), f"msg_test_{msgid}", payload)


def run_test_event(actor, endpoint: WebhookEndpoint) -> PostResult:
    """Send a test event on an operator's request, and record that they did."""
    result = send_test_event(endpoint)
    record_action(
        actor,
        "endpoint.test",
        bot=endpoint.bot,
        target=endpoint,
        summary=f"{result.outcome} {result.http_status or ''}".strip(),
    )
    return result
