"""Announcements: one message composed once, sent to many conversations, once or on a schedule.

An `Announcement` holds the content, the audience and the schedule; each
occurrence is an `AnnouncementRun` that fans out into one `Message` per
recipient (`Message.announcement_run`). A conditional unique constraint on
(run, conversation) is what guarantees that no recipient gets a run twice.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from botadmin.reasons import ReasonField
from botadmin.timezones import zone_or_default
from conversations.models import Bot, Conversation

DEFAULT_TIMEZONE = "Asia/Shanghai"


class SavedAudience(models.Model):
    """A named, reusable set of a bot's conversations."""

    bot = models.ForeignKey(
        Bot, on_delete=models.CASCADE, related_name="saved_audiences", verbose_name=_("bot")
    )
    name = models.CharField(_("name"), max_length=100)
    conversations = models.ManyToManyField(
        Conversation, related_name="+", verbose_name=_("conversations")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        db_table = "messaging_savedaudience"  # created by the messaging app; kept
        verbose_name = _("saved audience")
        verbose_name_plural = _("saved audiences")
        ordering = ["bot", "name"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "name"], name="saved_audience_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Announcement(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Scheduled")
        PAUSED = "paused", _("Paused")
        FINISHED = "finished", _("Finished")
        CANCELLED = "cancelled", _("Cancelled")

    class Kind(models.TextChoices):
        NOW = "now", _("Now")
        ONCE = "once", _("At a date and time")
        DAILY = "daily", _("Every day")
        WEEKDAYS = "weekdays", _("Every weekday (Mon–Fri)")
        WEEKLY = "weekly", _("Weekly on chosen days")
        MONTHLY = "monthly", _("Monthly on a day")
        CRON = "cron", _("Cron expression")

    bot = models.ForeignKey(
        Bot, on_delete=models.PROTECT, related_name="announcements", verbose_name=_("bot")
    )
    title = models.CharField(_("title"), max_length=200)
    msgtype = models.CharField(_("message type"), max_length=32)
    body = models.JSONField(_("body"), help_text=_("The normalised message body."))
    # What the console's list finds besides the title (messaging.validation.search_text).
    search_text = models.TextField(
        _("searchable text"),
        blank=True,
        default="",
        db_default="",
        help_text=_("Content, title and description."),
    )

    class Audience(models.TextChoices):
        """Chosen conversations are a list fixed when the announcement is saved; the
        others are rules applied when each run starts, so conversations added later
        get the later runs (`announcements.audience.recipients`)."""

        LISTED = "listed", _("Chosen conversations")
        GROUPS = "groups", _("All groups")
        USERS = "users", _("All users")
        EVERYONE = "everyone", _("Everyone")

    audience = models.CharField(
        _("audience"),
        max_length=16,
        choices=Audience.choices,
        default=Audience.LISTED,
        db_default=Audience.LISTED,
        help_text=_(
            "The chosen conversations, or a rule applied when each run starts "
            "(conversations added later are included)."
        ),
    )
    audience_search = models.CharField(
        _("audience search"),
        max_length=200,
        blank=True,
        default="",
        db_default="",
        help_text=_(
            "With a rule: only the conversations whose name contains this, or whose ID it is."
        ),
    )
    conversations = models.ManyToManyField(
        Conversation, related_name="+", blank=True, verbose_name=_("chosen conversations")
    )
    saved_audience = models.ForeignKey(
        SavedAudience,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("saved audience"),
    )
    schedule_kind = models.CharField(
        _("when"), max_length=16, choices=Kind.choices, default=Kind.NOW
    )
    schedule = models.JSONField(
        _("schedule"),
        default=dict,
        blank=True,
        help_text=_("at / time / weekdays / month_day / cron / until, in the time zone."),
    )
    timezone = models.CharField(_("time zone"), max_length=64, default=DEFAULT_TIMEZONE)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    # The creator's username when it was made: still shown after the user is deleted.
    created_by_label = models.CharField(
        _("created by (name)"), max_length=150, blank=True, default="", db_default=""
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # The compose page that made it (a random id it carries): the same page posted twice
    # (a double click, Back then Send) makes one announcement (editing.save_announcement).
    submission = models.CharField(
        _("compose page"), max_length=32, blank=True, default="", db_default=""
    )

    class Meta:
        db_table = "messaging_announcement"  # created by the messaging app; kept
        verbose_name = _("announcement")
        verbose_name_plural = _("announcements")
        ordering = ["-id"]
        indexes = [
            # The scheduler's one query: active announcements that are due.
            models.Index(
                fields=["next_run_at"],
                condition=Q(status="active"),
                name="announcement_due_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["submission"],
                condition=~Q(submission=""),
                name="announcement_submission_once",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def zone(self):
        """The zone its times are planned and shown in (the server's if the name is unknown)."""
        return zone_or_default(self.timezone)

    @property
    def is_recurring(self) -> bool:
        """It runs again and again (daily, weekly, …), not once."""
        from .schedule import RECURRING  # schedule.py imports this module

        return self.schedule_kind in RECURRING

    @property
    def is_editable(self) -> bool:
        """Drafts, active and paused announcements, including a recurring one that has run
        before (its past runs keep what they sent), but not:

        * a paused one with no run left (paused while its last run was sending): as a
          finished one, saving it would schedule its message again;
        * while a run is handing out messages: the fan-out reads the body batch by batch.
          A paused run (no batch in progress) continues its fan-out when resumed, with the
          body as it is then, as a failed run does when retried.
        """
        if self.status == self.Status.PAUSED:
            if self.next_run_at is None:
                return False
        elif self.status not in (self.Status.DRAFT, self.Status.ACTIVE):
            return False
        return not self.runs.filter(status=AnnouncementRun.Status.FANNING_OUT).exists()


class AnnouncementRun(models.Model):
    """One occurrence of an announcement: its recipients snapshot and fan-out progress."""

    class Status(models.TextChoices):
        FANNING_OUT = "fanning_out", _("Preparing")
        # All its messages are made (`fanned_out_at`); it stays so after the last one
        # went out or failed for good. Finished is read from its messages
        # (progress.runs_progress), never stored: messaging records their outcomes
        # without knowing runs, and a retry of failed ones (the run's, or one message's
        # from the console or the admin) makes a finished run send again.
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        CANCELLED = "cancelled", _("Cancelled")
        # Found more than BOTADMIN_SCHEDULED_LATE_CUTOFF_MINUTES after its time: not sent.
        MISSED = "missed", _("Missed (botadmin was down)")
        # Its messages could not be made (`last_error` says why); retrying it continues.
        FAILED = "failed", _("Failed")

    announcement = models.ForeignKey(
        Announcement, on_delete=models.CASCADE, related_name="runs", verbose_name=_("announcement")
    )
    scheduled_for = models.DateTimeField(_("scheduled for"))
    started_at = models.DateTimeField(_("started"))
    is_late = models.BooleanField(
        _("late"), default=False, help_text=_("Started well after its time, e.g. after downtime.")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.FANNING_OUT
    )
    recipient_ids = models.JSONField(
        _("recipients"), default=list, help_text=_("Conversation ids, fixed when the run starts.")
    )
    # The list's length, kept when the list is forgotten (announcements/retention.py);
    # empty on runs started before it existed, whose list is then counted.
    recipient_total = models.PositiveIntegerField(_("recipients planned"), null=True, blank=True)
    fanout_cursor = models.PositiveIntegerField(
        _("recipients done"), default=0, help_text=_("How many recipients have their message.")
    )
    fanned_out_at = models.DateTimeField(_("all messages created"), null=True, blank=True)
    last_error = ReasonField(
        _("last error"),
        blank=True,
        default="",
        db_default="",
        help_text=_("Why its messages could not be made, when they could not."),
    )
    restarts = models.PositiveSmallIntegerField(
        _("restarts"),
        default=0,
        db_default=0,
        help_text=_("Times its preparation was restarted since it last made progress."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        db_table = "messaging_announcementrun"  # created by the messaging app; kept
        verbose_name = _("announcement run")
        verbose_name_plural = _("announcement runs")
        ordering = ["-scheduled_for"]
        constraints = [
            models.UniqueConstraint(
                fields=["announcement", "scheduled_for"], name="announcement_run_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.announcement} @ {self.scheduled_for:%Y-%m-%d %H:%M}"

    @property
    def recipient_count(self) -> int:
        if self.recipient_total is not None:
            return self.recipient_total
        return len(self.recipient_ids)
