"""The admin's conversation pages: a group robot's key typed to replace it."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from audit.admin_changes import AuditedAdminMixin
from botadmin.admin_scoping import STORABLE_JSON, BotScopedAdminMixin, VisibleRelatedFilter
from botadmin.edited_meanwhile import refused_as_changed_meanwhile
from botadmin.forms import KEEP_CURRENT, with_hint

from .active_counts import forget_active_counts
from .admin_locking import ChecksTheRowItSavesOver
from .bot_changes import clean_robot_key
from .models import Bot, Conversation
from .roles import ADMINISTER_PERMISSION, is_bot_admin
from .secrets import fingerprint, mask, secrets_match

ROBOT_KEY_REPLACED_MEANWHILE = _(
    "This group's robot key was replaced after this page was opened (in another tab or by "
    "another user), so the key typed here was not saved. Type it again to replace that "
    "one, or leave the field empty to keep it."
)


class RobotKeyAdminForm(forms.ModelForm):
    """A bot admin's conversation form: the group robot's key is write-only (typed to
    replace it, never filled in), and an empty field keeps the stored one. A key typed
    over one replaced since the page was drawn (another tab) is refused, as the console
    refuses an announcement edited since, and saved when typed again."""

    robot_key = forms.CharField(
        label=Conversation._meta.get_field("robot_key").verbose_name,
        max_length=200,
        required=False,
        widget=forms.PasswordInput,
    )
    # The fingerprint of the key the page was drawn for (never the key itself).
    robot_key_replacing = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["robot_key"].help_text = with_hint(
            Conversation._meta.get_field("robot_key").help_text, KEEP_CURRENT
        )
        self.initial["robot_key_replacing"] = fingerprint(self.instance.robot_key)

    @property
    def changed_data(self) -> list[str]:
        # The fingerprint is the page's, not the conversation's: no change to record. The
        # key's field is never filled in, so left empty it differs from the stored key
        # though it keeps it: only a typed key is a change.
        typed_key = str(self.data.get(self.add_prefix("robot_key"), "")).strip()
        unchanged = {"robot_key_replacing"} | (set() if typed_key else {"robot_key"})
        return [name for name in super().changed_data if name not in unchanged]

    def clean(self):
        data = super().clean()
        if "robot_key" not in data:
            return data
        bot = data.get("bot", getattr(self.instance, "bot", None))
        stored = self.instance.robot_key  # read under its row's lock when posted
        try:
            key = clean_robot_key(bot, data["robot_key"], stored)
        except ValidationError as error:
            self.add_error("robot_key", error)
            return data
        replacing = data.get("robot_key_replacing") or ""  # "" from a script: any key
        if key != stored and replacing and not secrets_match(fingerprint(stored), replacing):
            # Shown again for the key stored now: typed again, it replaces that one.
            refusal = refused_as_changed_meanwhile(
                self,
                self.add_prefix("robot_key_replacing"),
                fingerprint(stored),
                ROBOT_KEY_REPLACED_MEANWHILE,
                code="replaced",
            )
            self.add_error("robot_key", refusal)
            return data
        data["robot_key"] = key
        return data


@admin.register(Conversation)
class ConversationAdmin(
    ChecksTheRowItSavesOver, AuditedAdminMixin, BotScopedAdminMixin, admin.ModelAdmin
):
    audit_codes = {
        "add": "conversation.add",
        "change": "conversation.update",
        "delete": "conversation.delete",
    }
    list_display = (
        "__str__",
        "conversation_id",
        "kind",
        "bot",
        "is_active",
        "member_count",
        "last_inbound_at",
    )
    list_filter = ("kind", "is_active", ("bot", VisibleRelatedFilter))
    search_fields = ("name", "conversation_id")
    list_select_related = ("bot",)
    readonly_fields = (
        "masked_robot_key",
        "last_synced_at",
        "last_inbound_at",
        "created_at",
        "updated_at",
    )
    show_full_result_count = False
    formfield_overrides = STORABLE_JSON

    # A robot key posts into its group, like an agent URL: shown masked to everyone,
    # replaced only by bot admins (conversations/roles.py).
    @staticmethod
    def _administers(request, obj) -> bool:
        if obj is None:
            return request.user.is_superuser or request.user.has_perm(ADMINISTER_PERMISSION)
        return is_bot_admin(request.user, obj.bot)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = RobotKeyAdminForm if self._administers(request, obj) else forms.ModelForm
        return super().get_form(request, obj, change, **kwargs)

    def get_exclude(self, request, obj=None):
        return None if self._administers(request, obj) else ("robot_key",)

    # A conversation added, changed (its kind, active or not) or deleted here changes
    # its bot's counts on the compose page (conversations/active_counts.py).
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        forget_active_counts(obj.bot)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        forget_active_counts(obj.bot)

    def delete_queryset(self, request, queryset):
        bots = list(Bot.objects.filter(conversations__in=queryset).distinct())
        super().delete_queryset(request, queryset)
        for bot in bots:
            forget_active_counts(bot)

    @admin.display(description=_("robot webhook key"))
    def masked_robot_key(self, obj):
        return format_html("<code>{}</code>", mask(obj.robot_key)) if obj.robot_key else "—"
