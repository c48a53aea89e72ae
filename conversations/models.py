from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from botadmin.internal_urls import InternalURLField
from botadmin.reasons import Reason, ReasonField, translate
from botadmin.timezones import known_zone, zone_choices
from connectors import bot_settings
from connectors.registry import CONNECTORS, DEFAULT_KIND
from connectors.registry import choices as connector_choices

from .secrets import (
    API_SECRET_RE,
    generate_api_secret,
    generate_signing_secret,
)
from .sort_keys import NameSortKeyField


def validate_time_zone(name: str) -> None:
    if known_zone(name) is None:
        raise ValidationError(_("Unknown time zone: %(tz)s"), params={"tz": name}, code="time_zone")


# 100,000 a minute is far beyond any WeCom account; larger values would only
# overflow PostgreSQL's integer column, which SQLite would have accepted.
MAX_RATE_LIMIT_PER_MINUTE = 100_000


class Bot(models.Model):
    """One WeCom identity botadmin sends and receives for."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    secret = models.CharField(
        _("API secret"),
        max_length=64,
        unique=True,
        default=generate_api_secret,
        validators=[RegexValidator(API_SECRET_RE, _("At least 32 url-safe characters."))],
    )
    previous_secret = models.CharField(
        _("previous API secret"), max_length=64, blank=True, default="", db_index=True
    )
    previous_secret_expires_at = models.DateTimeField(
        _("previous secret valid until"), null=True, blank=True
    )
    # Read by nothing since each webhook endpoint signs with its own secret (forwarding
    # 0007 copied these into the bot's endpoints). Kept one release so that a process
    # still on the previous one keeps working during a rolling upgrade; the next
    # release drops the three columns.
    signing_secret = models.CharField(
        _("webhook signing secret"), max_length=100, default=generate_signing_secret
    )
    previous_signing_secret = models.CharField(
        _("previous webhook signing secret"),
        max_length=100,
        blank=True,
        default="",
        db_default="",
    )
    previous_signing_secret_expires_at = models.DateTimeField(
        _("previous signing secret valid until"), null=True, blank=True
    )
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True, default="")
    connector = models.CharField(
        _("connector"), max_length=32, choices=connector_choices, default=DEFAULT_KIND
    )
    # The connector's settings that have no column of their own (its
    # `settings_form` says which; connectors/bot_settings.py reads and writes them).
    connector_settings = models.JSONField(
        _("connector settings"), default=dict, db_default={}, blank=True
    )
    # What botadmin learned from the other side (e.g. the msgtypes a bridge
    # agent announced), refreshed on contact sync and "test the connection".
    connector_state = models.JSONField(
        _("learned from the connector"), default=dict, db_default={}, blank=True, editable=False
    )
    # An address of the bot's own network: `http://agent:8080` is one too.
    agent_url = InternalURLField(_("agent URL"), max_length=500, blank=True, default="")
    agent_token = models.CharField(_("agent token"), max_length=200, blank=True, default="")
    rate_limit_per_minute = models.PositiveIntegerField(
        _("send rate limit (messages per minute)"),
        default=20,
        # The upper bound keeps the accepted range the same on every database.
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RATE_LIMIT_PER_MINUTE)],
        help_text=_(
            "All of the bot's messages together, to all its conversations. Its connector "
            "may also keep a gap between two messages to one conversation (a WeCom group "
            "robot: 3 s, as WeCom allows a robot 20 messages a minute)."
        ),
    )
    quiet_hours_start = models.TimeField(
        _("quiet hours start"),
        null=True,
        blank=True,
        help_text=_("No announcement messages from this time (in the bot's time zone)…"),
    )
    quiet_hours_end = models.TimeField(
        _("quiet hours end"),
        null=True,
        blank=True,
        help_text=_("…until this time; they wait until the window opens."),
    )
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        default="",
        db_default="",
        validators=[validate_time_zone],
        help_text=_(
            "Of the quiet hours: a place from the list, or UTC. Empty: the server's (TIME_ZONE)."
        ),
    )
    message_retention_days = models.PositiveIntegerField(
        _("keep messages for (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_(
            "Older messages are deleted every night. Empty: the server's setting "
            "(BOTADMIN_MESSAGE_RETENTION_DAYS; unset keeps them)."
        ),
    )
    operators = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("operators"),
        related_name="bots",
        blank=True,
        help_text=_(
            "Users who may see and use this bot in the console; they need no staff status."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    # Account protection: set by the delivery engine when the connector reports an
    # account-level problem (bad token, risk control); the bot's queue waits.
    paused_at = models.DateTimeField(_("sending paused"), null=True, blank=True)
    paused_reason = ReasonField(_("reason for the pause"), blank=True, default="", db_default="")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("bot")
        verbose_name_plural = _("bots")
        ordering = ["name"]
        # The bot admin role (conversations/roles.py): on the bots one operates,
        # change connector settings, webhook endpoints, secrets and operators.
        permissions = [
            (
                "administer_bot",
                _("Can administer its bots: connector, webhooks, secrets, operators"),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def unique_error_message(self, model_class, unique_check):
        # Django's "具有 名称 的 机器人 已存在。" names the field, not the name taken.
        if tuple(unique_check) == ("name",):
            return ValidationError(
                _("A bot named %(name)s exists already: choose another name."),
                code="unique",
                params={"name": self.name},
            )
        return super().unique_error_message(model_class, unique_check)

    def clean(self):
        errors: dict[str, list] = {}
        if self._time_zone_changed_to_no_place():
            errors["timezone"] = [
                ValidationError(
                    _("%(tz)s is no place; choose a time zone from the list."),
                    params={"tz": self.timezone},
                    code="time_zone",
                )
            ]
        if quiet_hours_error := self._quiet_hours_changed_to_no_window():
            errors["quiet_hours_end"] = [quiet_hours_error]
        connector = CONNECTORS.get(self.connector)  # None: the field's choices refuse it
        if connector is not None:
            errors.update(bot_settings.errors(connector, self))
        if errors:
            raise ValidationError(errors)

    def _quiet_hours_changed_to_no_window(self) -> ValidationError | None:
        """Why the quiet hours, changed, hold no window (messaging.scheduled.quiet_until):
        one end only, or both ends the same time, typed as "quiet all day" and holding
        nothing back. The same on every page that saves a bot (console, admin, createbot);
        a bot stored so before stays saveable while they are left unchanged."""
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if (start is None) != (end is None):
            why = _("Give both ends of the quiet hours, or neither.")
        elif start is not None and start == end:
            why = _(
                "The quiet hours start and end at the same time, which holds nothing "
                "back: give a window such as 22:00 to 08:00, or leave both empty. To "
                "hold an announcement for a while, pause it."
            )
        else:
            return None
        stored = self.pk and (
            Bot.objects.filter(pk=self.pk)
            .values_list("quiet_hours_start", "quiet_hours_end")
            .first()
        )
        if stored and tuple(stored) == (start, end):
            return None
        return ValidationError(why, code="quiet_hours")

    def _time_zone_changed_to_no_place(self) -> bool:
        """Whether the zone is none the forms offer (botadmin.timezones.zone_choices: a
        place, UTC, the server's) and was not stored so: a pseudo zone such as Factory,
        saved before the list hid it, stays while it is left unchanged."""
        if not self.timezone or known_zone(self.timezone) is None:
            return False  # the server's, or the field's validator refuses it
        if self.timezone in zone_choices():
            return False
        stored = (
            self.pk and Bot.objects.filter(pk=self.pk).values_list("timezone", flat=True).first()
        )
        return self.timezone != stored


class Conversation(models.Model):
    """A chat a bot can post to: a single user or a group."""

    class Kind(models.TextChoices):
        USER = "user", _("User")
        GROUP = "group", _("Group")

    # No index of its own: conversation_unique_per_bot (bot, conversation_id) starts with it.
    bot = models.ForeignKey(
        Bot,
        on_delete=models.CASCADE,
        related_name="conversations",
        verbose_name=_("bot"),
        db_index=False,
    )
    conversation_id = models.CharField(_("conversation ID"), max_length=255)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.GROUP)
    name = models.CharField(_("name"), max_length=255, blank=True, default="")
    # Its name's natural order (botadmin.natural_order): the lists of contacts sort by it.
    name_sort_key = NameSortKeyField(_("name's sort key"), default="", db_default="")
    avatar_url = models.URLField(_("avatar URL"), max_length=1000, blank=True, default="")
    member_count = models.PositiveIntegerField(_("members"), null=True, blank=True)
    extra = models.JSONField(_("extra fields"), default=dict, blank=True)
    robot_key = models.CharField(
        _("robot webhook key"),
        max_length=200,
        blank=True,
        default="",
        help_text=_("For WeCom group robot bots: the key of this group's robot webhook."),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Off once a sync no longer sees it.")
    )
    last_synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    # The last check of its robot key ("Test the connection" or the contact sync,
    # conversations/key_checks.py): when (null: never), and why it failed ("": it works).
    key_checked_at = models.DateTimeField(_("key checked"), null=True, blank=True)
    key_check_error = ReasonField(_("key check error"), blank=True, default="", db_default="")
    # When an inbound message was last seen here (conversations.activity, to the
    # second). Outbound messages do not move it, so it is not "recent activity":
    # the console sorts by the newest message of either direction
    # (console/conversation_list.py, newest_message_id).
    last_inbound_at = models.DateTimeField(_("last inbound message"), null=True, blank=True)
    # When an operator asked to delete it (conversations/deletion_marks.py): from then on the
    # API sends nothing new to it and lists it no more, while the deletion job empties it.
    deletion_requested_at = models.DateTimeField(
        _("deletion requested"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["bot", "kind", "name_sort_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "conversation_id"], name="conversation_unique_per_bot"
            ),
        ]
        indexes = [
            # /api/users and /api/groups: active conversations of one kind by name.
            models.Index(fields=["bot", "kind", "is_active", "name"], name="conv_list_idx"),
            # What the audience picker read by name before name_sort_key: kept while the
            # previous release may still serve (a rolling upgrade); the next one drops it.
            models.Index(
                fields=["bot", "name", "id"],
                condition=Q(is_active=True),
                name="conv_active_name_idx",
            ),
            # The audience picker and the @mention suggestions: a page of the active ones
            # in natural order (keyset on name_sort_key, id), without sorting all of a
            # big bot's.
            models.Index(
                fields=["bot", "name_sort_key", "id"],
                condition=Q(is_active=True),
                name="conv_active_sort_idx",
            ),
            # The counts of a bot's users and groups that receive messages (active and
            # not being deleted: conversations/active_counts.py), from the index alone:
            # its key holds the columns its condition fixes, which SQLite checks against
            # each row. Without it, SQLite read every row of the bot through
            # conv_active_sort_idx for deletion_requested_at (docs/performance.md, note 15).
            models.Index(
                fields=["bot", "kind", "is_active", "deletion_requested_at"],
                condition=Q(is_active=True, deletion_requested_at__isnull=True),
                name="conv_receiving_kind_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.conversation_id

    def clean(self):
        # A kind the bot's connector cannot post to (a group robot's "user") would be
        # listed under the wrong tab and left out of "All groups".
        connector = CONNECTORS.get(self.bot.connector) if self.bot_id else None
        if connector is not None and self.kind not in connector.conversation_kinds:
            kinds = [str(self.Kind(kind).label) for kind in connector.conversation_kinds]
            raise ValidationError(
                {
                    "kind": ValidationError(
                        _("A %(connector)s bot posts only to: %(kinds)s."),
                        code="kind",
                        params={"connector": connector.label, "kinds": ", ".join(kinds)},
                    )
                }
            )

    def unique_error_message(self, model_class, unique_check):
        # Django's "包含 机器人 和 会话 ID 的 会话 已经存在。" (the constraint's fields).
        if tuple(unique_check) == ("bot", "conversation_id"):
            return ValidationError(
                _("This bot has a conversation with the ID %(id)s already."),
                code="unique_together",
                params={"id": self.conversation_id},
            )
        return super().unique_error_message(model_class, unique_check)


class DeletedConversation(models.Model):
    """A conversation a deletion job deleted, by its id: the API answers a send to it that
    it was deleted, and when, rather than that the bot has no such conversation. A
    conversation of that id stored again (a contact sync, a message from it) is used
    as any other; this row stays until the bot goes."""

    # No index of its own: deleted_conversation_unique (bot, conversation_id) starts with it.
    bot = models.ForeignKey(
        Bot, on_delete=models.CASCADE, related_name="+", verbose_name=_("bot"), db_index=False
    )
    conversation_id = models.CharField(_("conversation ID"), max_length=255)
    deleted_at = models.DateTimeField(_("deleted"))

    class Meta:
        verbose_name = _("deleted conversation")
        verbose_name_plural = _("deleted conversations")
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "conversation_id"], name="deleted_conversation_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.conversation_id


class SyncRun(models.Model):
    """One sync of a bot's users and groups from its connector (conversations/sync.py).

    At most one run per bot is pending or running at a time: the database
    enforces it, so a second request, from any process, joins the first.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        # The connector can neither list contacts nor check entered ones.
        NOT_POSSIBLE = "not_possible", _("Not possible")

    class Trigger(models.TextChoices):
        PERIODIC = "periodic", _("Periodic")
        ADMIN = "admin", _("Admin")
        CONSOLE = "console", _("Console")
        COMMAND = "command", _("Command line")
        STARTUP = "startup", _("Start-up")
        # The other side said contacts changed (WeCom's change_contact events).
        CONTACT_CHANGE = "contact_change", _("Contact change")

    ACTIVE_OUTCOMES = (Outcome.PENDING, Outcome.RUNNING)

    # No index of its own: sync_bot_time_idx (bot, -requested_at) starts with it.
    bot = models.ForeignKey(
        Bot,
        on_delete=models.CASCADE,
        related_name="sync_runs",
        verbose_name=_("bot"),
        db_index=False,
    )
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.PENDING
    )
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Written with every page, and between the calls of a long one (`sync.HEARTBEAT_EVERY`):
    # a running sync whose heartbeat stops was abandoned.
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    pages_fetched = models.PositiveIntegerField(_("pages fetched"), default=0)
    users_added = models.PositiveIntegerField(_("users added"), default=0)
    users_updated = models.PositiveIntegerField(_("users updated"), default=0)
    users_deactivated = models.PositiveIntegerField(_("users deactivated"), default=0)
    users_reactivated = models.PositiveIntegerField(_("users reactivated"), default=0)
    groups_added = models.PositiveIntegerField(_("groups added"), default=0)
    groups_updated = models.PositiveIntegerField(_("groups updated"), default=0)
    groups_deactivated = models.PositiveIntegerField(_("groups deactivated"), default=0)
    groups_reactivated = models.PositiveIntegerField(_("groups reactivated"), default=0)
    # Operator-entered groups whose check had no clear answer this time (the other side
    # busy or unreachable, out of time): left as they were, asked about again next sync.
    groups_unchecked = models.PositiveIntegerField(_("groups not checked"), default=0, db_default=0)
    # Operator-entered groups whose check said they no longer work (a robot key WeCom no
    # longer knows, or none): deactivated now or already before.
    groups_not_working = models.PositiveIntegerField(
        _("groups no longer working"), default=0, db_default=0
    )
    # Why it failed (a botadmin.reasons.Reason, shown in the reader's language).
    error = ReasonField(_("error"), blank=True, default="")
    # The other side reported a contact change while this run ran, maybe after it read
    # that contact: another run follows it (conversations.sync_requests.request_sync_after_change).
    changed_while_running = models.BooleanField(
        _("contacts changed while running"), default=False, db_default=False, editable=False
    )

    class Meta:
        verbose_name = _("contact sync")
        verbose_name_plural = _("contact syncs")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot"],
                condition=models.Q(outcome__in=["pending", "running"]),
                name="one_active_sync_per_bot",
            ),
        ]
        indexes = [models.Index(fields=["bot", "-requested_at"], name="sync_bot_time_idx")]

    def __str__(self) -> str:
        if self.requested_at is None:  # not saved yet
            return f"{self.bot} {self.get_outcome_display()}"
        return f"{self.audit_name(self.audit_parts())} {self.get_outcome_display()}"

    # An audit entry about a sync keeps these parts and names it in its reader's time
    # zone when it is shown (audit/targets.py); its outcome then is no longer news.
    def audit_parts(self) -> dict:
        return {"bot": self.bot.name, "requested_at": self.requested_at.isoformat()}

    @classmethod
    def audit_name(cls, parts: dict) -> str:
        requested = timezone.localtime(datetime.fromisoformat(parts["requested_at"]))
        return f"{parts['bot']} {requested:%Y-%m-%d %H:%M}"

    # Why a sync of a bot whose connector can neither list nor check contacts
    # does nothing (stored in `error` as a Reason, whose text is the English).
    NOT_POSSIBLE_MSGID = gettext_noop(
        "This connector cannot list contacts: conversations appear when a message arrives."
    )
    NOT_POSSIBLE_REASON = _(NOT_POSSIBLE_MSGID)

    @property
    def is_active(self) -> bool:
        return self.outcome in self.ACTIVE_OUTCOMES

    @property
    def shown_error(self) -> str:
        """The error column for people, in their language (a plain text stored before
        reasons were translatable as it is, but for the not-possible explanation)."""
        if self.outcome == self.Outcome.NOT_POSSIBLE and not isinstance(self.error, Reason):
            return str(self.NOT_POSSIBLE_REASON)
        return translate(self.error)

    @property
    def is_quiet(self) -> bool:
        """A scheduled run that succeeded and changed nothing: the console folds these
        away, so that changes and failures are not lost among them."""
        return (
            self.trigger == self.Trigger.PERIODIC
            and self.outcome == self.Outcome.SUCCEEDED
            and not self.groups_unchecked
            and not self.groups_not_working
            and not any(n for changes in self.counts().values() for n in changes.values())
        )

    @property
    def groups_checked(self) -> int:
        """Of a sync that checks entered groups: how many checks had an answer."""
        return max(self.pages_fetched - self.groups_unchecked, 0)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            kind: {
                change: getattr(self, f"{kind}s_{change}")
                for change in ("added", "updated", "deactivated", "reactivated")
            }
            for kind in ("user", "group")
        }


GATEWAY_PROCESS = gettext_noop("the gateway process %(pid)s on %(host)s")
A_GATEWAY_PROCESS = gettext_noop("a gateway process")


def gateway_process(holder: str) -> Reason:
    """The process a long connection's lease `holder` names ("host:pid:id", the id telling
    a restarted process from the one before), in an operator's words: "the gateway
    process 10437 on vm" (`manage.py aibot_gateway`, which `ps` shows by that pid)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host and pid.isdigit():
        return Reason(GATEWAY_PROCESS, pid=pid, host=host)
    return Reason(A_GATEWAY_PROCESS)


class BotConnection(models.Model):
    """A long connection a gateway process holds for one bot (e.g. WeCom's AI bot).

    The row is both the lease — one holder per bot across every host: a
    gateway claims it when it is free or expired and renews it with its
    heartbeat — and what operators see: connected since, the last frame, the
    last error, who holds it. `conversations.connections` has the functions
    that change it; the console and the admin read these fields.
    """

    class State(models.TextChoices):
        IDLE = "idle", _("Not connected")
        CONNECTING = "connecting", _("Connecting")
        CONNECTED = "connected", _("Connected")
        RETRYING = "retrying", _("Reconnecting")
        TAKEN_OVER = "taken_over", _("Connection taken over")
        REFUSED = "refused", _("Credentials refused")

    bot = models.OneToOneField(
        Bot,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="connection",
        verbose_name=_("bot"),
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.IDLE)
    holder = models.CharField(
        _("lease holder"), max_length=200, blank=True, default="", help_text=_("host:pid:id")
    )
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    # Where the holder takes the bot's outbound messages (its local send endpoint).
    endpoint = models.CharField(_("gateway endpoint"), max_length=300, blank=True, default="")
    endpoint_token = models.CharField(max_length=64, blank=True, default="", editable=False)
    connected_since = models.DateTimeField(_("connected since"), null=True, blank=True)
    last_frame_at = models.DateTimeField(_("last frame"), null=True, blank=True)
    # A botadmin.reasons.Reason, shown in the reader's language (`shown_error`).
    last_error = ReasonField(_("last error"), blank=True, default="")
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    taken_over_at = models.DateTimeField(_("connection taken over at"), null=True, blank=True)
    # When `state` last took another value: what /metrics says the shown state holds since
    # (`connections.shown_since`). A row already there when the column came counts from then.
    state_changed_at = models.DateTimeField(
        _("state changed at"), default=timezone.now, db_default=Now()
    )
    # Each connection recorded "connected" (WeCom took its subscription), never reset: a
    # connection that keeps dropping and coming back, which the state alone hides between
    # two scrapes, shows as its rate (/metrics' botadmin_bot_connections_made_total).
    connections_made = models.PositiveBigIntegerField(
        _("connections made"), default=0, db_default=0, editable=False
    )
    # Each change of `state` (the write that moves `state_changed_at`), never reset: flapping
    # that never reaches "connected" (gateways passing the lease back and forth, a connection
    # closed at each subscription while its gateway restarts) adds no connection made, and
    # moves the state's time too often for the time to tell (botadmin_bot_connection_state_
    # changes_total; docs/monitoring.md, "AI bot connections").
    state_changes = models.PositiveBigIntegerField(
        _("state changes"), default=0, db_default=0, editable=False
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    # A last error an earlier gateway stored as plain text (Python's own words, in English:
    # "gaierror: [Errno -2] Name or service not known"), which operators are not shown.
    EARLIER_ERROR = gettext_noop("the connection failed (the gateway's log has the details)")

    class Meta:
        verbose_name = _("bot connection")
        verbose_name_plural = _("bot connections")

    def __str__(self) -> str:
        return f"{self.bot} {self.state}"

    @property
    def held_by(self) -> str:
        """Which process holds the connection, in an operator's words (`gateway_process`)."""
        return gateway_process(self.holder) if self.holder else ""

    @property
    def shown_error(self) -> str:
        """The last error as operators see it: a Reason (in their language), never an
        exception's text."""
        stored = self.last_error
        if not stored or isinstance(stored, Reason):
            return stored
        return Reason(self.EARLIER_ERROR)
