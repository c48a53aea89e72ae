import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from botadmin.msgtype_names import msgtype_name
from botadmin.reasons import ReasonField
from connectors.base import Outcome
from conversations.models import Bot, Conversation

from .outbox import IN_FLIGHT, IN_FLIGHT_LABEL, WORKER_HELP


def new_msgid() -> str:
    return uuid.uuid4().hex


def could_be_msgid(value: str) -> bool:
    """False for what no stored msgid is: too long, or holding NUL (which PostgreSQL
    refuses even in a query), so a lookup can answer "no such message" at once."""
    return len(value) <= 32 and "\x00" not in value


# Partial indexes' conditions, each named so that the queries the index serves state
# it (botadmin.partial_indexes.index_condition), which SQLite needs to use the index.
#
# The delivery engine's queue (msg_pending_idx, msg_conversation_delivery_idx) and holds
# (msg_conversation_uncertain_idx).
PENDING = Q(status__in=["queued", "sending"])
UNCERTAIN = Q(status="uncertain")
# The dashboard's indexes (migration 0023) write their sets as ORs of equalities: the
# same statuses as PENDING, in the form their queries had then (a bound `status = ?`
# implies it, so a query asking one status of the set reads them too).
QUEUED_OR_SENDING = Q(status="queued") | Q(status="sending")
# Outbound, not tried yet and held back until a time (its pace, a daily cap's hold):
# the dashboard's "held" (messaging.status_labels' "waiting until"), while that time is
# to come.
HELD = Q(direction="out", status="queued", attempt_count=0, next_attempt_at__isnull=False)
# Outbound and queued: msg_bot_due_idx's condition (messaging/queue_health.py).
QUEUED_OUTBOUND = Q(direction="out", status="queued")
FAILED_OR_UNCERTAIN = Q(status="failed") | Q(status="uncertain")
# Neither sent nor received, which most messages are: msg_status_other_idx's condition,
# which a status filter states besides (`status = 'failed' AND NOT (…)`) for SQLite. (As
# an OR of the other statuses, each arm `status = ?` of the dashboard's counts would
# match it too, and SQLite read all failed messages ever through it, not the bots'.)
NOT_SENT_OR_RECEIVED = ~(Q(status="sent") | Q(status="received"))


# A message's place in its conversation's timeline: its id, unless it was moved
# (`timeline_position`). Indexed (msg_timeline_idx): filter and order by exactly this.
TIMELINE_KEY = Coalesce("timeline_position", "id", output_field=models.BigIntegerField())
# Since when a queued message may be sent: its next attempt's time (a retry, its pace, a
# daily cap's hold, a resume), else its scheduled time (released when due), else its
# creation. Still to come while it waits until a time. Indexed per bot (msg_bot_due_idx):
# filter and order by exactly this.
DUE_SINCE = Coalesce("next_attempt_at", "scheduled_at", "created_at")


class Message(models.Model):
    """Every message a bot sent or saw: the log both directions share."""

    class Direction(models.TextChoices):
        IN = "in", _("Inbound")
        OUT = "out", _("Outbound")

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        UNCERTAIN = "uncertain", _("Uncertain")
        CANCELLED = "cancelled", _("Cancelled")
        RECEIVED = "received", _("Received")

    # Named sets of statuses (attributes of Status, not members): every module
    # that means one of these uses it, so a reader never wonders which is meant.
    # Handed to delivery and not finished: the delivery engine's work.
    Status.IN_DELIVERY = (Status.QUEUED, Status.SENDING)
    # Not handed to a connector yet: cancelling stops it (operators, announcements).
    Status.CANCELLABLE = (Status.SCHEDULED, Status.QUEUED)
    # Not final yet: the history page polls these; retention never purges them.
    Status.UNFINISHED = (Status.SCHEDULED, Status.QUEUED, Status.SENDING)
    # Finished without being delivered for sure (failed, or perhaps): an operator may retry.
    Status.UNDELIVERED = (Status.FAILED, Status.UNCERTAIN)

    class Source(models.TextChoices):
        API = "api", _("API")
        CONSOLE = "console", _("Console")
        ANNOUNCEMENT = "announcement", _("Announcement")
        AGENT = "agent", _("Agent")

    msgid = models.CharField(_("message ID"), max_length=32, unique=True, default=new_msgid)
    # Neither has an index of its own: msg_bot_idx (bot, -id) and msg_history_idx
    # (conversation, -id) start with them (docs/database.md).
    bot = models.ForeignKey(
        Bot,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("bot"),
        db_index=False,
    )
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("conversation"),
        db_index=False,
    )
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    msgtype = models.CharField(_("message type"), max_length=32)
    body = models.JSONField(_("body"), help_text=_("The normalised message body."))
    search_text = models.TextField(
        _("searchable text"), blank=True, default="", help_text=_("Content, title and description.")
    )
    sender_id = models.CharField(_("sender"), max_length=255, blank=True, default="")
    sender_name = models.CharField(_("sender name"), max_length=255, blank=True, default="")
    upstream_msgid = models.CharField(
        _("upstream message ID"), max_length=128, blank=True, default=""
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    # Outbound: the msgtype its connector really sent (at the last attempt) and,
    # when that is not `msgtype`, why ("sent as text: this connector has no markdown").
    sent_as = models.CharField(_("sent as"), max_length=32, blank=True, default="", db_default="")
    conversion = models.CharField(
        _("conversion"), max_length=300, blank=True, default="", db_default=""
    )
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    # The creator's username when the message was made: still shown after the user is deleted.
    created_by_label = models.CharField(
        _("created by (name)"), max_length=150, blank=True, default="", db_default=""
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, blank=True, default="")
    request_hash = models.CharField(
        _("request hash"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("Hash of the accepted request, to recognise a reused idempotency key."),
    )
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    # The `send_at` the first answer to an Idempotency-Key's request gave, as it gave it
    # (in the offset the caller wrote; "" for none): a replay answers the same bytes.
    # NULL for a message stored without a key, or before this column.
    send_at_answered = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # No index of its own: msg_run_status_idx (run, status, …) starts with it and holds
    # only the announcements' messages (docs/database.md).
    announcement_run = models.ForeignKey(
        "announcements.AnnouncementRun",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("announcement run"),
        db_index=False,
    )
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    # Outbound, while `sending` only: an operator stopped it (delivery_actions.stop) and
    # this is the status it takes instead of going out (again) — `cancelled`, or
    # `scheduled` without a time (held) — unless the attempt in flight delivers it.
    stop_requested = models.CharField(
        _("stop requested"), max_length=16, blank=True, default="", db_default=""
    )
    # Inbound: stored, but its webhook deliveries are not created yet (a worker fans it out).
    forward_pending = models.BooleanField(_("forwarding pending"), default=False, db_default=False)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # Where the conversation's timeline shows the message when not at its id: a
    # scheduled message is placed when it is released, with a number taken from the
    # id sequence then (messaging/timeline.py). Empty for every other message.
    timeline_position = models.BigIntegerField(_("timeline position"), null=True, blank=True)
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = ReasonField(_("last error"), blank=True, default="")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "upstream_msgid"],
                condition=Q(direction="in") & ~Q(upstream_msgid=""),
                name="message_inbound_upstream_msgid_unique",
            ),
            models.UniqueConstraint(
                fields=["bot", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="message_idempotency_key_unique",
            ),
            # An announcement run reaches each recipient once, however often
            # its fan-out is restarted.
            models.UniqueConstraint(
                fields=["announcement_run", "conversation"],
                condition=Q(announcement_run__isnull=False),
                name="message_once_per_announcement_run",
            ),
        ]
        indexes = [
            # The forwarding sweeper: inbound messages not fanned out yet.
            models.Index(
                fields=["created_at"],
                condition=Q(forward_pending=True),
                name="msg_forward_pending_idx",
            ),
            # A conversation's messages, newest first.
            models.Index(fields=["conversation", "-id"], name="msg_history_idx"),
            # The console's timeline, keyset-paged by position (messaging/timeline.py).
            models.Index(F("conversation"), TIMELINE_KEY.desc(), name="msg_timeline_idx"),
            # A bot's log by time.
            models.Index(fields=["bot", "-created_at"], name="msg_bot_log_idx"),
            # The console's search and audit log, newest first by id, filtered (keyset
            # pages read in order at any table size; docs/performance.md). Senders'
            # names match through a trigram index on PostgreSQL (migration 0010).
            models.Index(fields=["bot", "-id"], name="msg_bot_idx"),
            models.Index(fields=["msgtype", "-id"], name="msg_msgtype_idx"),
            models.Index(fields=["source", "-id"], name="msg_source_idx"),
            models.Index(
                fields=["sender_id", "-id"], condition=~Q(sender_id=""), name="msg_sender_idx"
            ),
            # Sent and received are most messages: the id order finds them at once.
            models.Index(
                fields=["status", "-id"],
                condition=NOT_SENT_OR_RECEIVED,
                name="msg_status_other_idx",
            ),
            # Due scheduled messages.
            models.Index(
                fields=["scheduled_at"],
                condition=Q(status="scheduled"),
                name="msg_due_scheduled_idx",
            ),
            # The delivery sweeper: work waiting or in flight.
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=PENDING,
                name="msg_pending_idx",
            ),
            # Delivery order: each conversation's oldest message in delivery (its head,
            # the only one that may be due), and whether an uncertain one older than it
            # is within its hold. (Partial, so a long history is never scanned.)
            models.Index(
                fields=["conversation", "id"],
                condition=PENDING,
                name="msg_conversation_delivery_idx",
            ),
            models.Index(
                fields=["conversation", "id"],
                condition=UNCERTAIN,
                name="msg_conversation_uncertain_idx",
            ),
            # An announcement run's messages by status: its page's counts and their waiting
            # ones (all from the index: announcements.progress.runs_progress), its
            # recipients in a state, whether it is still sending. Only the announcements'
            # messages, and the foreign key's lookups (a run's deletion) read it too.
            models.Index(
                fields=["announcement_run", "status", "next_attempt_at"],
                condition=Q(announcement_run__isnull=False),
                name="msg_run_status_idx",
            ),
            # Lookup by WeCom's message id (outbound answers, inbound dedupe).
            models.Index(fields=["upstream_msgid"], name="msg_upstream_idx"),
            # The dashboard's indexes (console/dashboard.py). Each condition is written
            # by the dashboard's query too (`index_condition`), so that SQLite, which
            # has no statistics of them, can use it at all. Each holds in its key every
            # column its count reads, the ones its condition fixes included: SQLite has
            # no INCLUDE and checks each term of the query against the row, so it then
            # counts from the index alone (PostgreSQL too), and this makes each one
            # SQLite's cheapest plan for its count, whatever order the indexes were
            # made in. The counts stop at a cap: a few reads however long the history.
            #
            # "Waiting now": a bot's queue, oldest first.
            models.Index(
                fields=["bot", "created_at", "direction", "status"],
                condition=Q(direction="out") & QUEUED_OR_SENDING,
                name="msg_bot_in_delivery_idx",
            ),
            # The oldest due message of each bot and what waits until a time
            # (messaging/queue_health.py): a bot's queued messages by when each may be
            # sent. It includes what its walk reads of each (PostgreSQL; SQLite ignores
            # INCLUDE), so the walk and each step's look at the conversation read no row.
            models.Index(
                F("bot"),
                DUE_SINCE,
                include=["conversation", "id", "next_attempt_at", "scheduled_at", "created_at"],
                condition=QUEUED_OUTBOUND,
                name="msg_bot_due_idx",
            ),
            # "Retrying": the queue's messages tried before (by the attempt count, which
            # their query bounds).
            models.Index(
                fields=["bot", "attempt_count", "direction", "status"],
                condition=Q(direction="out", attempt_count__gt=0) & QUEUED_OR_SENDING,
                name="msg_bot_retrying_idx",
            ),
            # "Held": the queue's messages not tried yet that wait until a time, by it.
            models.Index(
                fields=["bot", "next_attempt_at", "attempt_count", "direction", "status"],
                condition=HELD,
                name="msg_bot_held_idx",
            ),
            # Agent health: a bot's outbound messages that were tried, newest first
            # (whose attempts show when its agent last answered). By time, an order the
            # primary key cannot serve: by id, PostgreSQL walked the primary key back for
            # a bot that never sent, beside one that sent every message (note 27).
            models.Index(
                fields=["bot", "-created_at"],
                condition=Q(direction="out", attempt_count__gt=0),
                name="msg_bot_attempted_at_idx",
            ),
            # Agent health: a bot's newest inbound message (when it was last reported one).
            # Inbound messages nearly none (bots that only send), PostgreSQL scanned the
            # whole table per bot rather than walk msg_bot_log_idx through the bot's
            # outbound messages, which a bot that only sends would have to (note 28).
            models.Index(
                fields=["bot", "-created_at"],
                condition=Q(direction="in"),
                name="msg_bot_inbound_at_idx",
            ),
            # "Failed (24 h)": a bot's undelivered messages by time.
            models.Index(
                fields=["bot", "created_at", "direction", "status"],
                condition=Q(direction="out") & FAILED_OR_UNCERTAIN,
                name="msg_bot_undelivered_at_idx",
            ),
            # "Not forwarded": a bot's inbound messages waiting for the webhooks, by
            # time (msg_forward_pending_idx, by time alone, is the sweeper's).
            models.Index(
                fields=["bot", "created_at", "forward_pending"],
                condition=Q(forward_pending=True),
                name="msg_bot_forward_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.audit_name(self.audit_parts())

    # An audit entry about a message keeps these parts and names it in its reader's
    # language when it is shown (audit/targets.py): "发出 文本 …", "Outbound text …".
    def audit_parts(self) -> dict:
        return {"direction": self.direction, "msgtype": self.msgtype, "msgid": self.msgid}

    @classmethod
    def audit_name(cls, parts: dict) -> str:
        direction = cls.Direction(parts["direction"]).label
        return f"{direction} {msgtype_name(parts['msgtype'])} {parts['msgid']}"

    @property
    def author_name(self) -> str:
        """Who made it in the console or an announcement: the user's name, or the name kept
        with the message once the user is deleted ("" for the API's and inbound ones)."""
        if self.created_by_id:
            return self.created_by.get_username()
        return self.created_by_label

    @property
    def timeline_at(self) -> datetime:
        """When the timeline shows it: its creation, or for a moved (scheduled) message
        when it went out (or was due, until it has)."""
        if self.timeline_position is not None:
            return self.sent_at or self.scheduled_at or self.created_at
        return self.created_at


class DeliveryAttempt(models.Model):
    """One try at handing an outbound message to its connector: opened (in flight) when the
    message is claimed, its outcome written after the call (messaging/outbox.py)."""

    Outcome = Outcome  # the connectors' own: an attempt records what the connector answered

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attempts", verbose_name=_("message")
    )
    started_at = models.DateTimeField(_("started"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"),
        max_length=16,
        choices=[(IN_FLIGHT, IN_FLIGHT_LABEL), *Outcome.choices],
        default=IN_FLIGHT,
    )
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    errcode = models.IntegerField(_("errcode"), null=True, blank=True)
    response_text = ReasonField(
        _("response or error"), blank=True, default="", help_text=_("First 1 KB.")
    )
    worker = models.CharField(
        _("worker process"),
        max_length=200,
        blank=True,
        default="",
        db_default="",
        help_text=WORKER_HELP,
    )

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["message", "started_at"]

    def __str__(self) -> str:
        # The admin's title of an attempt: when, and its outcome in the reader's language.
        started = (
            f"{timezone.localtime(self.started_at):%Y-%m-%d %H:%M:%S}" if self.started_at else "—"
        )
        return f"{started} · {self.get_outcome_display()}"


class MessageMedia(models.Model):
    """An image or file a message carries, and the archive's copy of it.

    Inbound media arrive as a reference only the source can resolve (a bridge
    agent's WeCom CDN reference, an app's `media_id`, an AI bot's encrypted
    URL): `cdn_type`/`cdn` keep it as given, and a worker fetches the bytes
    right after the message is stored (messaging/media_fetch.py). Outbound media are
    stored as they leave. The bytes live once in the media store
    (`media.StoredFile`), however many messages show them.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Still fetching")
        STORED = "stored", _("Stored")
        FAILED = "failed", _("Could not be fetched")
        EXPIRED = "expired", _("Media expired")

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="media", verbose_name=_("message")
    )
    kind = models.CharField(_("kind"), max_length=16, default="image")
    cdn_type = models.CharField(_("CDN type"), max_length=64, blank=True, default="")
    cdn = models.TextField(_("CDN reference"), blank=True, default="")
    original_name = models.CharField(
        _("original name"), max_length=255, blank=True, default="", db_default=""
    )
    status = models.CharField(
        _("fetch status"),
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        db_default=Status.PENDING,
    )
    stored_file = models.ForeignKey(
        "media.StoredFile",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="uses",
        verbose_name=_("stored copy"),
    )
    # Why the bytes are not here (a botadmin.reasons.Reason, shown in the reader's language).
    error = ReasonField(_("fetch error"), blank=True, default="", db_default="")
    attempts = models.PositiveSmallIntegerField(_("fetch attempts"), default=0, db_default=0)
    # Pending: when the next fetch is due (the sweeper looks), or a worker's lease.
    next_attempt_at = models.DateTimeField(_("next fetch"), null=True, blank=True)
    stored_at = models.DateTimeField(_("stored"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("message media")
        verbose_name_plural = _("message media")
        ordering = ["message", "id"]
        indexes = [
            # The fetch sweeper: pending media by due time.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="media_pending_idx",
            ),
            # Retention: stored media by age.
            models.Index(
                fields=["created_at"], condition=Q(status="stored"), name="media_stored_age_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.cdn_type}:{self.cdn[:40]}"


def new_media_id() -> str:
    """An upload's media_id: unguessable, since it is all a send needs besides the secret."""
    return secrets.token_urlsafe(32)


# How long an uploaded media_id can be sent, as WeCom's (shared/spec/wecom.md section 1).
UPLOAD_LIFETIME = timedelta(days=3)


class UploadedMedia(models.Model):
    """A file or voice uploaded through `POST /api/upload_media`, sent later by its media_id.

    WeCom's group robot's two-step flow (messaging/uploads.py): the bytes go to the
    media store (`media.StoredFile`, kept once by SHA-256), this row names them for the
    bot until `expires_at`. A message that sends it links the stored file through its own
    media row (MessageMedia), so the message stays sendable after the upload is deleted.
    """

    class Kind(models.TextChoices):
        FILE = "file", _("File")
        VOICE = "voice", _("Voice")

    media_id = models.CharField(_("media ID"), max_length=64, unique=True, default=new_media_id)
    bot = models.ForeignKey(
        Bot, on_delete=models.CASCADE, related_name="uploads", verbose_name=_("bot")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    name = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    md5 = models.CharField(_("MD5"), max_length=32)
    stored_file = models.ForeignKey(
        "media.StoredFile",
        on_delete=models.PROTECT,
        related_name="uploads",
        verbose_name=_("stored copy"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), db_index=True)

    class Meta:
        verbose_name = _("uploaded media")
        verbose_name_plural = _("uploaded media")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.size} B)"


class CardTaskId(models.Model):
    """A template card's task_id that its bot has used: WeCom wants one card per task_id and
    AI bot or app, and does not say for how long, so every gateway holding an AI bot and
    every worker sending for an app asks here (messaging/card_task_ids.py). Kept for
    BOTADMIN_CARD_TASK_ID_RETENTION_DAYS (messaging/retention.py)."""

    # No index of its own: card_task_id_once_per_bot (bot, task_id) starts with it.
    bot = models.ForeignKey(
        Bot, on_delete=models.CASCADE, related_name="+", verbose_name=_("bot"), db_index=False
    )
    task_id = models.CharField(_("card task ID"), max_length=128)
    # The message part whose card took it (its msgid, or msgid-2, … for a later part of a
    # converted message); empty for a card the bot only saw clicked.
    taken_by = models.CharField(_("taken by"), max_length=40, blank=True, default="")
    taken_at = models.DateTimeField(_("taken"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("card task ID")
        verbose_name_plural = _("card task IDs")
        constraints = [
            models.UniqueConstraint(fields=["bot", "task_id"], name="card_task_id_once_per_bot")
        ]

    def __str__(self) -> str:
        return self.task_id


__all__ = [
    "UPLOAD_LIFETIME",
    "CardTaskId",
    "DeliveryAttempt",
    "Message",
    "MessageMedia",
    "UploadedMedia",
    "new_media_id",
    "new_msgid",
]
