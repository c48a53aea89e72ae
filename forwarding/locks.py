"""The order in which a bot's row and its webhook endpoints' rows are locked: the bot's
first, always.

A bot's save locks the bot's row (the admin's change view, claim_url), then its primary
endpoint's (sync_primary_endpoint, when the webhook URL changed). A change of an endpoint
that locked the endpoint's row first then needs the bot's row: claim_url locks it, and on
PostgreSQL so does the foreign key of the change's audit entry (a share lock, which waits
for the bot's save). Each would wait for the other: a deadlock, one of the two saves
failing (a 500). So whatever locks an endpoint's row for a change locks its bot's first.
"""

from conversations.models import Bot

from .models import WebhookEndpoint


def lock_endpoint(endpoint_id: int) -> WebhookEndpoint:
    """The endpoint as stored now, its bot's row and then its own locked till the caller's
    transaction ends (call it in one). Raises WebhookEndpoint.DoesNotExist."""
    bot_id = WebhookEndpoint.objects.filter(pk=endpoint_id).values_list("bot_id", flat=True)
    # An endpoint never moves to another bot (the admin shows its bot read-only).
    Bot.objects.select_for_update().filter(pk__in=bot_id).values_list("pk").first()
    return (
        WebhookEndpoint.objects.select_for_update(of=("self",))
        .select_related("bot")
        .get(pk=endpoint_id)
    )
