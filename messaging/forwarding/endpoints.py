"""A bot's webhook endpoints: the primary one mirrors Bot.webhook_url."""

from django.db import connection, transaction
from django.utils import timezone

from botadmin.rows import ModelColumns
from conversations.models import Bot

from .models import WebhookDelivery, WebhookEndpoint

_ENDPOINT = ModelColumns(WebhookEndpoint, "e")


def sync_primary_endpoint(bot: Bot) -> WebhookEndpoint | None:
    """Make the bot's primary endpoint match `bot.webhook_url`.

    Called whenever a bot is saved (admin, `createbot`, setup), so every way
    of setting the URL forwards. An emptied URL switches the endpoint off
    (its history stays); a new URL switches it on and clears an automatic
    disable: the operator pointed it somewhere that may work.
    """
    with transaction.atomic():
        endpoint = (
            WebhookEndpoint.objects.select_for_update()  # one sync at a time per bot
            .filter(bot=bot, is_primary=True)
            .first()
        )
        if endpoint is None:
            if not bot.webhook_url:
                return None
            return WebhookEndpoint.objects.create(bot=bot, url=bot.webhook_url, is_primary=True)
        if not bot.webhook_url:
            if endpoint.is_active:
                endpoint.is_active = False
                endpoint.save(update_fields=["is_active", "updated_at"])
            return endpoint
        if endpoint.url != bot.webhook_url or not endpoint.is_active:
            endpoint.url = bot.webhook_url
            endpoint.is_active = True
            endpoint.save(update_fields=["url", "is_active", "updated_at"])
            if endpoint.disabled_at:
                reenable_endpoint(endpoint)
        return endpoint


def endpoints_for(bot: Bot, msgtype: str) -> list[WebhookEndpoint]:
    """The bot's active endpoints that want this msgtype.

    Endpoints disabled for failing are included: their deliveries wait and go
    out once the endpoint is re-enabled.
    """
    # Hand-written SQL: this runs for every inbound message (see botadmin/rows.py).
    sql = (
        f"SELECT {_ENDPOINT.select_list(connection)} FROM {_ENDPOINT.table(connection)} "
        "WHERE e.bot_id = %s AND e.is_active ORDER BY e.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [bot.pk])
        rows = cursor.fetchall()
    endpoints = [_ENDPOINT.instance(row, connection) for row in rows]
    return [endpoint for endpoint in endpoints if endpoint.accepts(msgtype)]


def create_deliveries(message, endpoints: list[WebhookEndpoint]) -> list[WebhookDelivery]:
    """One pending delivery per endpoint, in the transaction that stores the message."""
    now = timezone.now()
    deliveries = [
        WebhookDelivery(message=message, endpoint=endpoint, next_attempt_at=now)
        for endpoint in endpoints
    ]
    if len(deliveries) == 1:
        # The usual case; save() costs about half of bulk_create() for one row.
        deliveries[0].save(force_insert=True)
    elif deliveries:
        WebhookDelivery.objects.bulk_create(deliveries)
    return deliveries


def reenable_endpoint(endpoint: WebhookEndpoint) -> int:
    """Clear an automatic disable; the deliveries that waited go out now. Returns how many."""
    from .delivery import wake_deliveries

    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            disabled_at=None,
            disabled_reason="",
            failing_since=None,
            failure_streak=0,
            updated_at=now,
        )
        waiting = list(
            WebhookDelivery.objects.filter(
                endpoint=endpoint, status=WebhookDelivery.Status.PENDING
            ).values_list("pk", flat=True)
        )
        WebhookDelivery.objects.filter(pk__in=waiting).update(next_attempt_at=now, updated_at=now)
        wake_deliveries(waiting)
    endpoint.refresh_from_db()
    return len(waiting)
