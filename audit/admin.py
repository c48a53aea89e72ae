from django.contrib import admin

from botadmin.admin_scoping import BotScopedAdminMixin, ReadOnlyAdminMixin, VisibleRelatedFilter

from .models import OperatorAction


@admin.register(OperatorAction)
class OperatorActionAdmin(ReadOnlyAdminMixin, BotScopedAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "actor", "bot", "action", "target_type", "target_id", "summary")
    list_filter = ("action", ("bot", VisibleRelatedFilter))
    search_fields = ("summary", "target_id", "actor__username")
    list_select_related = ("actor", "bot")
    show_full_result_count = False
