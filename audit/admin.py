from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from botadmin.admin_lookups import DeclaredFiltersOnlyAdminMixin
from botadmin.admin_scoping import BotScopedAdminMixin, ReadOnlyAdminMixin, VisibleRelatedFilter
from console import action_summaries

from . import actions, targets
from .admin_changes import AuditedAdminMixin
from .models import OperatorAction


class ActionFilter(admin.SimpleListFilter):
    """Filter by operation, in words."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return actions.choices(request.user)

    def queryset(self, request, queryset):
        return queryset.filter(action__in=actions.codes(self.value())) if self.value() else queryset


@admin.register(OperatorAction)
class OperatorActionAdmin(ReadOnlyAdminMixin, BotScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "actor",
        "bot",
        "action_words",
        "target_type_words",
        "target_id",
        "target_name",
        "description",
    )
    list_filter = (ActionFilter, ("bot", VisibleRelatedFilter))
    search_fields = ("summary", "target_id", "target_label", "actor_label", "actor__username")
    list_select_related = ("actor", "bot")
    show_full_result_count = False
    # An entry's page, in the place of a stored field: what the list shows of it.
    SHOWN_FOR = {
        "action": ("action_with_code",),
        "target_type": ("target_type_with_code",),
        "summary": ("description", "recorded_summary"),
    }
    readonly_fields = tuple(name for shown in SHOWN_FOR.values() for name in shown)

    def get_fields(self, request, obj=None):
        """An entry's page says its operation and target type in words (their codes
        beside them), and describes it as the list does in the stored summary's place (a
        test event's outcome, not the "sending" recorded before the send), with the
        stored English summary after it, as recorded."""
        fields = [
            name for name in super().get_fields(request, obj) if name not in self.readonly_fields
        ]
        return [shown for name in fields for shown in self.SHOWN_FOR.get(name, (name,))]

    @admin.display(description=_("action"))
    def action_with_code(self, obj):
        return format_html("{} <code>{}</code>", actions.words(obj.action), obj.action)

    @admin.display(description=_("target type"))
    def target_type_with_code(self, obj):
        if not obj.target_type:
            return "-"
        words = targets.target_type_words(obj)
        return format_html("{} <code>{}</code>", words, obj.target_type)

    @admin.display(description=_("action"), ordering="action")
    def action_words(self, obj):
        return actions.words(obj.action)

    @admin.display(description=_("target type"), ordering="target_type")
    def target_type_words(self, obj):
        """The model's name in the reader's language ("机器人"), not its label."""
        return targets.target_type_words(obj)

    @admin.display(description=_("target's name"))
    def target_name(self, obj):
        """In the reader's language and time zone ("发出 文本 …"), as the console shows it."""
        return targets.target_name(obj)

    @admin.display(description=_("description"))
    def description(self, obj):
        """What the entry did in the reader's language, as the console's audit page and
        its CSV say it (console.action_summaries): from its code and details, an old
        entry's from its stored English summary's pattern; a test event's outcome, not
        the "sending" stored before the send."""
        return action_summaries.summary(obj)

    @admin.display(description=_("summary as recorded (English)"))
    def recorded_summary(self, obj):
        """The stored summary, as the logs and `export_audit_log` keep it."""
        return obj.summary


# Who may sign in and what they may do: users and groups are changed in Django's
# own admin pages, recorded here like a bot's changes (bot-less: superusers read them).
_PASSWORD_FIELDS = {"password", "password1", "password2", "usable_password"}


class AuditedUserAdmin(DeclaredFiltersOnlyAdminMixin, AuditedAdminMixin, UserAdmin):
    audit_codes = {"add": "user.create", "change": "user.update", "delete": "user.delete"}

    def audited_changes(self, form):
        changed = super().audited_changes(form)
        # The password form's fields, or the add form's: that it changed, in one name.
        password = [name for name in changed if name in _PASSWORD_FIELDS]
        return [name for name in changed if name not in _PASSWORD_FIELDS] + (
            ["password"] if password else []
        )


class AuditedGroupAdmin(DeclaredFiltersOnlyAdminMixin, AuditedAdminMixin, GroupAdmin):
    audit_codes = {"add": "group.create", "change": "group.update", "delete": "group.delete"}


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), AuditedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, AuditedGroupAdmin)
