from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .actions import words
from .targets import target_name


class OperatorAction(models.Model):
    """Something an operator did that changes what a bot sends or who can use it."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    # No index of its own: audit_bot_time_idx (bot, -created_at) starts with it.
    bot = models.ForeignKey(
        "conversations.Bot",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="operator_actions",
        verbose_name=_("bot"),
        db_index=False,
    )
    # Names as they were when the action was recorded: the user, the bot or the
    # target may be deleted later (the deletion itself is an action worth reading).
    actor_label = models.CharField(
        _("actor's name"), max_length=150, blank=True, default="", db_default=""
    )
    bot_label = models.CharField(
        _("bot's name"), max_length=200, blank=True, default="", db_default=""
    )
    action = models.CharField(_("action"), max_length=64)
    target_type = models.CharField(_("target type"), max_length=64, blank=True, default="")
    target_id = models.CharField(_("target ID"), max_length=64, blank=True, default="")
    target_label = models.CharField(
        _("target's name"), max_length=200, blank=True, default="", db_default=""
    )
    # The parts of a name made of words or times, named when read (audit/targets.py).
    target_parts = models.JSONField(
        _("target's name parts"), default=dict, db_default={}, blank=True
    )
    summary = models.TextField(_("summary"), blank=True, default="")
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("operator action")
        verbose_name_plural = _("operator actions")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["bot", "-created_at"], name="audit_bot_time_idx"),
            # A bot's newest action of one kind (its last connection test, on its page and
            # compose's): one descent, however many actions of other kinds came since.
            models.Index(fields=["bot", "action", "-created_at"], name="audit_bot_action_idx"),
        ]

    def __str__(self) -> str:
        # The admin's title and breadcrumb: the action in words, as the list shows it.
        target = target_name(self) or self.target_id
        return " · ".join(
            str(part)
            for part in (self.actor_label or self.actor, words(self.action), target)
            if part
        )
