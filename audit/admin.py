from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from botadmin.admin_scoping import BotScopedAdminMixin, ReadOnlyAdminMixin, VisibleRelatedFilter

from . import actions
from .models import OperatorAction


class ActionFilter(admin.SimpleListFilter):
    """Filter by operation, in words."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return actions.choices()

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(OperatorAction)
class OperatorActionAdmin(ReadOnlyAdminMixin, BotScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "actor",
        "bot",
        "action_words",
        "target_type",
        "target_id",
        "summary",
    )
    list_filter = (ActionFilter, ("bot", VisibleRelatedFilter))
    search_fields = ("summary", "target_id", "actor__username")
    list_select_related = ("actor", "bot")
    show_full_result_count = False

    @admin.display(description=_("action"), ordering="action")
    def action_words(self, obj):
        return actions.words(obj.action)
