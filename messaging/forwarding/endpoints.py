"""A bot's webhook endpoints: the primary one mirrors Bot.webhook_url."""

from django.db import transaction
from django.utils import timezone

from conversations.models import Bot

from .models import WebhookDelivery, WebhookEndpoint


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
    return [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(bot=bot, is_active=True)
        if endpoint.accepts(msgtype)
    ]


def create_deliveries(message, endpoints: list[WebhookEndpoint]) -> list[WebhookDelivery]:
    """One pending delivery per endpoint, in the transaction that stores the message."""
    if not endpoints:
        return []
    now = timezone.now()
    return WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(message=message, endpoint=endpoint, next_attempt_at=now)
            for endpoint in endpoints
        ]
    )


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
