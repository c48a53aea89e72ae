from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from botadmin.reasons import ReasonField


class DeletionJob(models.Model):
    """The deletion of a bot or a conversation with everything it holds, in batches.

    A row rather than one `DELETE … CASCADE`: a bot with millions of messages is
    deleted a batch at a time, each batch its own short transaction, and a worker
    killed halfway leaves a job the sweeper hands to another (deletions/services.py).
    The target is named by id and label only: it is gone when the job is done.
    """

    class Kind(models.TextChoices):
        BOT = "bot", _("Bot")
        CONVERSATION = "conversation", _("Conversation")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        RUNNING = "running", _("Deleting")
        DONE = "done", _("Deleted")
        FAILED = "failed", _("Failed")

    UNFINISHED = (Status.QUEUED, Status.RUNNING)

    kind = models.CharField(_("what"), max_length=16, choices=Kind.choices)
    target_id = models.BigIntegerField(_("target ID"))
    target_label = models.CharField(_("target's name"), max_length=255, blank=True, default="")
    # The bot the target belongs to (itself for a bot): who administers it may follow the job.
    bot_ref = models.BigIntegerField(_("bot ID"))
    bot_label = models.CharField(_("bot's name"), max_length=200, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_by_label = models.CharField(
        _("requested by (name)"), max_length=150, blank=True, default=""
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    # Rows deleted so far, by kind ("messages", "delivery attempts", …): written with each batch.
    counts = models.JSONField(_("rows deleted"), default=dict, blank=True)
    # Rows there were when it was requested, by the same kinds (what the confirmation showed).
    planned = models.JSONField(_("rows to delete"), default=dict, blank=True)
    # Outbound messages it deleted whose send ended after it was asked for (a call on the
    # wire then, whose outcome it waited for), by status: {"sent": 1}. Written with each batch.
    sends = models.JSONField(_("sends ended meanwhile"), null=True, blank=True)
    # The ids of the outbound messages a worker was sending (status `sending`) when it was
    # asked for: those among them whose send has ended are `sends`. None for a job asked
    # for by a release before it (told by comparing times then).
    on_the_wire = models.JSONField(_("sends on the wire when asked for"), null=True, blank=True)
    # The last failed run's reason; with status FAILED, why the job stopped.
    error = ReasonField(_("error"), blank=True, default="")
    # Runs that failed so far (an error, or rows still referring to the target at the end):
    # each is tried again after a growing delay (services.RETRY_SCHEDULE) from
    # `next_attempt_at` on, and when the schedule is used up the job fails.
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0, db_default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    # Written with every batch: a running job whose heartbeat is older than the lease
    # was abandoned (a killed worker), and the sweeper hands it to another.
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("deletion job")
        verbose_name_plural = _("deletion jobs")
        ordering = ["-requested_at", "-id"]
        constraints = [
            # Asking twice joins the job under way.
            models.UniqueConstraint(
                fields=["kind", "target_id"],
                condition=Q(status__in=["queued", "running"]),
                name="one_unfinished_deletion_per_target",
            )
        ]
        indexes = [
            models.Index(
                fields=["heartbeat_at"],
                condition=Q(status__in=["queued", "running"]),
                name="deletion_unfinished_idx",
            ),
            # A bot's pages ask what of it is being deleted (services.deletions_of).
            models.Index(
                fields=["bot_ref"], condition=~Q(status="done"), name="deletion_bot_not_done_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.target_label or self.target_id}"

    @property
    def is_unfinished(self) -> bool:
        return self.status in self.UNFINISHED
