"""Webhook endpoints, deliveries and attempts (saleor's three tables, minus the payload table:
the payload is the inbound message itself)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from botadmin.masked_urls import mask_url
from botadmin.reasons import ReasonField
from conversations.secrets import DatabaseSigningSecret, generate_signing_secret
from messaging import outbox


class WebhookEndpoint(models.Model):
    """Where a bot's inbound messages are forwarded, with the endpoint's health.

    The primary endpoint mirrors `Bot.webhook_url` (see endpoints.sync_primary_endpoint);
    operators may add more, each with its own msgtype filter.
    """

    bot = models.ForeignKey(
        "conversations.Bot",
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("bot"),
    )
    url = models.URLField(_("URL"), max_length=500)
    is_primary = models.BooleanField(
        _("primary"), default=False, help_text=_("Mirrors the bot's webhook URL.")
    )
    msgtypes = models.JSONField(
        _("message types"),
        default=list,
        blank=True,
        help_text=_('Only these msgtypes, e.g. ["text", "image"]. Empty: every message.'),
    )
    description = models.CharField(_("description"), max_length=200, blank=True, default="")
    # The seed's body carries the bot's API secret, and receivers written for it may read
    # it; one that checks the signature needs none, and then no log of its can leak it.
    sends_api_secret = models.BooleanField(
        _("send the API secret"),
        default=True,
        db_default=True,
        help_text=_(
            'Off: the body\'s "secret" is "-", and receivers check the webhook-signature '
            "header instead. On: it is the bot's API secret, as receivers written for the "
            "seed's body may expect."
        ),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_(
            "Off: no message is forwarded here while it is off; “Forward the messages it "
            "missed” on its console page sends those of the last 7 days later."
        ),
    )
    disabled_at = models.DateTimeField(
        _("disabled"),
        null=True,
        blank=True,
        help_text=_(
            "Set when deliveries kept failing for 3 days, never a day without a failure; "
            "deliveries wait until re-enabled."
        ),
    )
    disabled_reason = ReasonField(_("disabled because"), blank=True, default="")
    # Kept after the endpoint is back on: "Forward the messages it missed" starts here.
    stopped_at = models.DateTimeField(
        _("forwarding last stopped"),
        null=True,
        blank=True,
        help_text=_("When it was last switched off, or when the failures that disabled it began."),
    )
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure"), null=True, blank=True)
    failing_since = models.DateTimeField(
        _("failing since"),
        null=True,
        blank=True,
        help_text=_("First failure after the last success, or after a day without failures."),
    )
    failure_streak = models.PositiveIntegerField(_("failures in a row"), default=0)
    # Each endpoint its own (Standard Webhooks' whsec_): a receiver holding it can sign
    # for this endpoint only, never for the bot's other receivers (signing_secrets.py).
    signing_secret = models.CharField(
        _("signing secret"),
        max_length=100,
        default=generate_signing_secret,
        db_default=DatabaseSigningSecret(),
    )
    # A rotated-out signing secret still signs deliveries (a second signature) until then.
    previous_signing_secret = models.CharField(
        _("previous signing secret"), max_length=100, blank=True, default="", db_default=""
    )
    previous_signing_secret_expires_at = models.DateTimeField(
        _("previous signing secret valid until"), null=True, blank=True
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        db_table = "messaging_webhookendpoint"  # created by the messaging app; kept
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["bot", "-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot"], condition=Q(is_primary=True), name="webhook_one_primary_per_bot"
            ),
        ]

    def __str__(self) -> str:
        # Its name on pages and in the admin's messages and history: the URL masked.
        return mask_url(self.url)

    def accepts(self, msgtype: str) -> bool:
        return not self.msgtypes or msgtype in self.msgtypes

    def signing_secrets(self, now=None) -> list[str]:
        """The secrets this endpoint's deliveries are signed with: the current one, and
        the previous one within its grace period (the receiver accepts either signature)."""
        now = now or timezone.now()
        expires = self.previous_signing_secret_expires_at
        if self.previous_signing_secret and expires and expires > now:
            return [self.signing_secret, self.previous_signing_secret]
        return [self.signing_secret]


# webhook_delivery_due_idx's condition: the sweeper's and the claims' queries state it
# (botadmin.partial_indexes.index_condition), which SQLite needs to use the index.
DUE = Q(status__in=["pending", "delivering"])


class WebhookDelivery(models.Model):
    """One inbound message for one endpoint: delivered once, retried on a schedule, replayable."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERING = "delivering", _("Delivering")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    # Neither has an index of its own: webhook_delivery_once_per_endpoint (message,
    # endpoint) and webhook_delivery_page_idx (endpoint, id) start with them.
    message = models.ForeignKey(
        "messaging.Message",
        on_delete=models.CASCADE,
        related_name="webhook_deliveries",
        verbose_name=_("message"),
        db_index=False,
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("endpoint"),
        db_index=False,
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    # While `delivering`, the lease: past it, the next claim takes the delivery back.
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    retry_step = models.PositiveSmallIntegerField(
        _("retry step"),
        default=0,
        help_text=_("Position in the retry schedule; a replay restarts it."),
    )
    replay_count = models.PositiveIntegerField(_("replays"), default=0)
    last_http_status = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    last_error = ReasonField(_("last error"), blank=True, default="")
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        db_table = "messaging_webhookdelivery"  # created by the messaging app; kept
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "endpoint"], name="webhook_delivery_once_per_endpoint"
            ),
        ]
        indexes = [
            # The sweeper: due or abandoned work.
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=DUE,
                name="webhook_delivery_due_idx",
            ),
            # The admin and replays: one endpoint's deliveries by time and status.
            models.Index(
                fields=["endpoint", "status", "created_at"], name="webhook_delivery_ep_idx"
            ),
            # The console's endpoint page, a keyset page by id (console/webhooks.py): the
            # "All" tab, and one status's tab. Each page reads its 21 rows in order,
            # whatever the endpoint's history holds (docs/performance.md).
            models.Index(fields=["endpoint", "id"], name="webhook_delivery_page_idx"),
            models.Index(fields=["endpoint", "status", "id"], name="webhook_delivery_tab_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} → {self.endpoint_id}"

    @property
    def webhook_id(self) -> str:
        """The Standard Webhooks `webhook-id`: stable for the message, on every retry and replay."""
        return webhook_id_for(self.message.msgid)


def webhook_id_for(msgid: str) -> str:
    """`msg_` + botadmin's own message id (`Message.msgid`), never the body's `msgid`
    (the agent's): a receiver strips the prefix to ask GET /api/messages/{msgid}."""
    return f"msg_{msgid}"


class WebhookAttempt(models.Model):
    """One POST to an endpoint: recorded before it is made, its outcome written after."""

    # Not connectors.base.Outcome: that one is a connector's classification of one send
    # (retry / uncertain / failed for good). Here the answer is only 2xx or not, and
    # whether a failure is retried is the schedule's decision (the delivery's status
    # says it), so "success / failure / refused" is what an attempt can say. The
    # open-attempt marker is the outbox protocol's, shared with DeliveryAttempt.
    class Outcome(models.TextChoices):
        IN_FLIGHT = outbox.IN_FLIGHT, _("In flight")  # opened at the claim
        SUCCESS = "success", _("Success")
        FAILURE = "failure", _("Failure")
        REFUSED = "refused", _("Refused (unsafe URL)")

    delivery = models.ForeignKey(
        WebhookDelivery,
        on_delete=models.CASCADE,
        related_name="attempts",
        verbose_name=_("delivery"),
    )
    number = models.PositiveIntegerField(_("attempt"))
    url = models.URLField(_("URL"), max_length=500)
    started_at = models.DateTimeField(_("started"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.IN_FLIGHT
    )
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    response_text = ReasonField(
        _("answer or error"), blank=True, default="", help_text=_("First 1 KB.")
    )
    worker = models.CharField(
        _("worker process"),
        max_length=200,
        blank=True,
        default="",
        db_default="",
        help_text=outbox.WORKER_HELP,
    )

    class Meta:
        db_table = "messaging_webhookattempt"  # created by the messaging app; kept
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"#{self.number} {self.get_outcome_display()}"
