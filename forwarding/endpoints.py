"""A bot's webhook endpoints: the primary one mirrors Bot.webhook_url."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from audit.services import record_action
from botadmin.masked_urls import mask_url
from botadmin.url_spelling import normalized_url, trailing_slash_apart
from conversations.models import Bot
from messaging.media_references import forwardable
from messaging.models import Message

from .locks import lock_endpoint
from .models import WebhookDelivery, WebhookEndpoint


def sync_primary_endpoint(bot: Bot) -> WebhookEndpoint | None:
    """Make the bot's primary endpoint match `bot.webhook_url`.

    Called whenever a bot is saved (admin, `createbot`, setup), so every way
    of setting the URL forwards. An emptied URL switches the endpoint off
    (its history stays); a new URL switches it on and clears an automatic
    disable: the operator pointed it somewhere that may work. A new URL another endpoint
    of the bot forwards to raises EndpointExists (claim_url; the bot's form says so
    before saving); a bot without a primary endpoint makes the one with its URL primary.
    The URL is compared and stored normalised (botadmin.url_spelling): `HTTPS://H/in`
    is the endpoint's `https://h/in`, not a new URL.
    """
    url = normalized_url(bot.webhook_url) if bot.webhook_url else ""
    with transaction.atomic():
        primary = WebhookEndpoint.objects.filter(bot=bot, is_primary=True)
        endpoint = primary.select_for_update().first()  # one sync at a time per bot
        if endpoint is None:
            if not url:
                return None
            try:
                claim_url(bot, url, for_primary=True)
            except EndpointExists as exists:
                # The primary was deleted (the admin may) and another endpoint forwards to
                # the URL: that one becomes the primary, rather than a second one there, or
                # an error in whatever saved the bot.
                exists.endpoint.is_primary = True
                exists.endpoint.save(update_fields=["is_primary", "updated_at"])
                return exists.endpoint
            return WebhookEndpoint.objects.create(bot=bot, url=url, is_primary=True)
        if not url:
            if endpoint.is_active:
                endpoint.is_active, endpoint.stopped_at = False, timezone.now()
                endpoint.save(update_fields=["is_active", "stopped_at", "updated_at"])
            return endpoint
        if normalized_url(endpoint.url) != url or not endpoint.is_active:
            if normalized_url(endpoint.url) != url:
                claim_url(bot, url, for_primary=True)
            endpoint.url = url
            endpoint.is_active = True
            endpoint.save(update_fields=["url", "is_active", "updated_at"])
            if endpoint.disabled_at:
                reenable_endpoint(endpoint)
        return endpoint


def create_deliveries(message_ids: list[int]) -> list[int]:
    """Create the deliveries of stored inbound messages; return the pending ones' ids.

    `/api/callback` only stores the message (marked `forward_pending`), so
    that accepting it costs one insert; this runs in a worker right after.
    Safe to run twice or side by side: the (message, endpoint) unique
    constraint keeps one delivery per pair, and a repeat finds nothing pending.
    Endpoints disabled for failing get deliveries too: they wait and go out
    once the endpoint is re-enabled. A message whose media are still being
    fetched waits (messaging.media_references.forwardable).
    """
    fanned_out = _fan_out(Message.objects.filter(pk__in=message_ids))
    if not fanned_out:
        return []
    return list(
        WebhookDelivery.objects.filter(
            message_id__in=fanned_out, status=WebhookDelivery.Status.PENDING
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def fan_out_waiting(limit: int) -> int:
    """Create the deliveries of the oldest `limit` messages still waiting for theirs (their
    wake-up not taken yet, or lost); returns how many messages. A draining worker's step:
    one query finds them, without a second one for the deliveries' ids (its claim takes
    every due delivery)."""
    return len(_fan_out(Message.objects.order_by("created_at"), limit))


def _fan_out(messages, limit: int | None = None) -> list[int]:
    """Deliveries of those of `messages` still marked `forward_pending`, and the mark
    cleared (also for bots without endpoints); returns the messages' ids."""
    waiting = forwardable(messages.filter(forward_pending=True)).only("pk", "bot_id", "msgtype")
    messages = list(waiting[:limit] if limit else waiting.order_by("pk"))
    if not messages:
        return []
    now = timezone.now()
    endpoints_by_bot: dict[int, list[WebhookEndpoint]] = {}
    deliveries = []
    for message in messages:
        if message.bot_id not in endpoints_by_bot:
            endpoints_by_bot[message.bot_id] = list(
                WebhookEndpoint.objects.filter(bot_id=message.bot_id, is_active=True)
            )
        deliveries += [
            WebhookDelivery(message_id=message.pk, endpoint=endpoint, next_attempt_at=now)
            for endpoint in endpoints_by_bot[message.bot_id]
            if endpoint.accepts(message.msgtype)
        ]
    fanned_out = [message.pk for message in messages]
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        Message.objects.filter(pk__in=fanned_out).update(forward_pending=False)
    return fanned_out


def catch_up_new_endpoint(endpoint_id: int) -> list[int]:
    """Deliveries for the messages stored since the endpoint was created whose fan-out missed
    it; returns their ids. Run once its creation is committed.

    A message stored in the same instant as the endpoint may have been fanned
    out between its own commit and the endpoint's, seeing no endpoint yet. The
    rule is simple: an endpoint gets every message stored from its
    `created_at` on (the unique constraint keeps one delivery per pair).
    """
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).first()
    if endpoint is None:
        return []
    missed = (
        Message.objects.filter(
            bot_id=endpoint.bot_id,
            direction=Message.Direction.IN,
            forward_pending=False,
            created_at__gte=endpoint.created_at,
        )
        .exclude(webhook_deliveries__endpoint=endpoint)
        .only("pk", "msgtype")
    )
    now = timezone.now()
    with transaction.atomic():
        created = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(message_id=message.pk, endpoint=endpoint, next_attempt_at=now)
                for message in missed
                if endpoint.accepts(message.msgtype)
            ],
            ignore_conflicts=True,
        )
        ids = list(
            WebhookDelivery.objects.filter(
                endpoint=endpoint,
                message_id__in=[delivery.message_id for delivery in created],
                status=WebhookDelivery.Status.PENDING,
            ).values_list("pk", flat=True)
        )
        if ids:
            from .drains import wake_endpoints

            wake_endpoints([endpoint.pk])
    return ids


def reenable_endpoint(endpoint: WebhookEndpoint, actor=None) -> int:
    """Clear an automatic disable; the deliveries that waited go out now. Returns how many.

    Audited when an operator (`actor`) asked for it."""
    from .drains import wake_endpoints

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
        wake_endpoints([endpoint.pk])  # one drain, however many waited
        if actor is not None:
            record_action(actor, "endpoint.reenable", bot=endpoint.bot, target=endpoint)
    endpoint.refresh_from_db()
    return len(waiting)


def resumed_text(count: int) -> str:
    """What an operator reads after re-enabling an endpoint whose `count` deliveries waited."""
    return ngettext(
        "%(n)d waiting delivery resumed.", "%(n)d waiting deliveries resumed.", count
    ) % {"n": count}


class EndpointExists(Exception):
    """The bot already forwards to this URL (the endpoint is `endpoint`): a second
    endpoint there would get every message twice."""

    message = gettext_lazy(
        "Another endpoint of this bot already forwards to this URL: it would get every "
        "message twice. Change that endpoint instead."
    )

    def __init__(self, endpoint: WebhookEndpoint):
        super().__init__(endpoint.url)
        self.endpoint = endpoint


def claim_url(
    bot: Bot, url: str, *, other_than: WebhookEndpoint | None = None, for_primary: bool = False
) -> None:
    """The rule every way of giving an endpoint a URL keeps (the console, the admin's
    endpoint and bot forms, a bot's save): one endpoint per URL and bot. Raises
    EndpointExists when an endpoint of the bot other than `other_than` (or than the
    primary one, `for_primary`: the bot's webhook URL) has `url`, active or not, however
    the case of its scheme and host is written and with or without its default port
    (botadmin.url_spelling.normalized_url; rows saved before URLs were normalised too).
    A path with a trailing slash is another URL: see trailing_slash_warning.

    Locks the bot's row until the caller's transaction ends: two changes at once (both
    clicks of a double click, two operators) take turns, and the second sees the first's
    URL. Call it in the transaction that saves the URL. Endpoints that shared a URL
    before this rule stay as they are; only a new or changed URL is checked.
    """
    with transaction.atomic():
        Bot.objects.select_for_update().filter(pk=bot.pk).values_list("pk").first()
        others = WebhookEndpoint.objects.filter(bot=bot)  # a few per bot
        if other_than is not None and other_than.pk:
            others = others.exclude(pk=other_than.pk)
        if for_primary:
            others = others.exclude(is_primary=True)
        wanted = normalized_url(url)
        existing = next((e for e in others.order_by("pk") if normalized_url(e.url) == wanted), None)
    if existing is not None:
        raise EndpointExists(existing)


def trailing_slash_warning(endpoint: WebhookEndpoint) -> str:
    """A warning in the reader's language when another endpoint of the bot has the
    endpoint's URL but for a trailing slash (`…/in` and `…/in/`), naming it; else "".

    Saved all the same: a server may answer the two paths differently, so they are not
    one URL; but where they are the same receiver, it gets every message twice."""
    twin = next(
        (
            other
            for other in WebhookEndpoint.objects.filter(bot_id=endpoint.bot_id)
            .exclude(pk=endpoint.pk)
            .order_by("pk")
            if trailing_slash_apart(other.url, endpoint.url)
        ),
        None,
    )
    if twin is None:
        return ""
    return _(
        "Another endpoint of this bot forwards to %(url)s, which differs from this URL "
        "only by a trailing slash. If the receiver treats both alike, it gets every "
        "message twice: change or switch off one of them."
    ) % {"url": mask_url(twin.url)}


def add_endpoint(
    actor,
    bot: Bot,
    *,
    url: str,
    msgtypes: list[str],
    description: str = "",
    sends_api_secret: bool = True,
):
    """A further endpoint for the bot's inbound messages (the primary one is the bot's
    webhook URL); audited. A URL the bot already forwards to raises EndpointExists: a
    second endpoint there would get every message twice (a double-clicked "Add")."""
    url = normalized_url(url)
    with transaction.atomic():
        claim_url(bot, url)
        endpoint = WebhookEndpoint.objects.create(
            bot=bot,
            url=url,
            msgtypes=msgtypes,
            description=description,
            sends_api_secret=sends_api_secret,
        )
        record_action(
            actor,
            "endpoint.create",
            bot=bot,
            target=endpoint,
            summary=f"Added {url}",
            details={"url": url},
        )
    return endpoint


def change_endpoint(actor, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    """Change an endpoint's URL (not the primary's: it is the bot's webhook URL),
    msgtype filter, description, whether it is sent the API secret, or switch; audited
    with what changed. A new URL re-enables an endpoint disabled for failing. A URL another endpoint of the bot has raises EndpointExists
    (claim_url), and nothing is changed."""
    if endpoint.is_primary:
        fields.pop("url", None)
    if fields.get("url"):
        fields["url"] = normalized_url(fields["url"])
    changed = {name: value for name, value in fields.items() if getattr(endpoint, name) != value}
    if not changed:
        return endpoint
    with transaction.atomic():
        if "url" in changed:
            claim_url(endpoint.bot, changed["url"], other_than=endpoint)
        for name, value in changed.items():
            setattr(endpoint, name, value)
        switched_off = changed.get("is_active") is False
        if switched_off:
            endpoint.stopped_at = timezone.now()
        endpoint.save(
            update_fields=[*changed, *(["stopped_at"] if switched_off else []), "updated_at"]
        )
        if "url" in changed and endpoint.disabled_at:
            # As a new webhook URL does for the primary (sync_primary_endpoint): pointed
            # elsewhere, a disabled endpoint tries again, and what waited goes there.
            reenable_endpoint(endpoint)
        record_action(
            actor,
            "endpoint.update",
            bot=endpoint.bot,
            target=endpoint,
            summary=f"Changed {', '.join(changed)} of {endpoint.url}",
            details={name: value for name, value in changed.items() if name != "url"},
        )
    return endpoint


def why_not_deletable(endpoint: WebhookEndpoint) -> str:
    """Why the endpoint cannot be deleted, in the operator's words; empty when it can.

    Deleting an endpoint would take its deliveries and their attempts with it
    (on_delete CASCADE): the delivery log, the replays in the audit log and the
    message pages refer to them. So only an endpoint without any delivery is
    deleted; one with a history is switched off instead (nothing more is queued
    for it, its pending deliveries wait, its history stays) and can be deleted
    once the message retention has removed its deliveries. The primary endpoint
    is the bot's webhook URL: emptying that URL switches it off.
    """
    if endpoint.is_primary:
        return _(
            "This endpoint is the bot's webhook URL: empty that URL on the bot's page "
            "to stop forwarding there."
        )
    if endpoint.deliveries.exists():  # not counted: an endpoint may have millions
        return _(
            "This endpoint has deliveries in its history, which the delivery log and the "
            "audit log refer to, so it is not deleted. Switch it off instead (untick "
            "Active): nothing more is forwarded to it and its history stays."
        )
    return ""


class EndpointNotDeletable(Exception):
    """The endpoint was kept; str() says why (why_not_deletable)."""


def delete_endpoint(actor, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint that has no delivery (why_not_deletable); audited with its URL.

    Raises EndpointNotDeletable otherwise. The endpoint's row is locked first:
    a fan-out creating its first delivery meanwhile either commits before (and
    the delete is refused) or fails on the missing endpoint and is repeated by
    the sweeper without it.
    """
    with transaction.atomic():
        try:
            locked = lock_endpoint(endpoint.pk)  # no delivery appears while we look
        except WebhookEndpoint.DoesNotExist:  # deleted by someone else meanwhile
            return
        reason = why_not_deletable(locked)
        if reason:
            raise EndpointNotDeletable(reason)
        record_action(
            actor,
            "endpoint.delete",
            bot=locked.bot,
            target=locked,
            summary=f"Deleted {locked.url}",
            details={
                "url": locked.url,
                "msgtypes": locked.msgtypes,
                "description": locked.description,
            },
        )
        locked.delete()
