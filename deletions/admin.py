"""The Django admin deletes bots and conversations through deletion jobs.

Django's own delete would collect every message first and stop at the "protected
objects" page (a bot's messages and announcements PROTECT it), or hold one long
transaction. The admins of Bot (as forwarding extends it) and Conversation registered by
`conversations` are re-registered here with a delete view and a "delete selected" action that queue a
job each (deletions/services.py); `conversations` does not know this app.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from botadmin.admin_lookups import DeclaredFiltersOnlyAdminMixin
from botadmin.reasons import admin_display
from conversations.admin_conversations import ConversationAdmin
from conversations.models import Bot, Conversation
from conversations.services import bots_visible_to
from forwarding.admin import BotWithForwardingAdmin

from . import services
from .models import DeletionJob


class DeletesInBackgroundMixin:
    """Delete view and "delete selected" that queue deletion jobs instead of deleting."""

    deletion_kind: str

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            description = gettext_lazy(
                "Delete selected %(verbose_name_plural)s (in the background)"
            )
            actions["delete_selected"] = (
                type(self).delete_in_background,
                "delete_selected",
                description,
            )
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        if request.method == "POST":
            self._queue(request, [obj])
            return redirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
            )
        return self._confirmation(request, [obj], single=True)

    def delete_in_background(self, request, queryset):
        objects = [obj for obj in queryset if self.has_delete_permission(request, obj)]
        if len(objects) < len(queryset):
            raise PermissionDenied
        if request.POST.get("post") == "yes":
            self._queue(request, objects)
            return None
        return self._confirmation(request, objects, single=False)

    def _confirmation(self, request, objects, *, single: bool):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Delete in the background?"),
            "single": single,
            "targets": [
                {
                    "object": obj,
                    "rows": services.what_goes(self.deletion_kind, obj),
                    "running": services.unfinished_job(self.deletion_kind, obj.pk),
                }
                for obj in objects
            ],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/deletions/confirm_delete.html", context)

    def _queue(self, request, objects) -> None:
        for obj in objects:
            job, created = self.request_deletion(obj, request.user)
            text = (
                _("%(name)s is being deleted in the background (deletion job %(job)s).")
                if created
                else _("%(name)s was being deleted already (deletion job %(job)s).")
            )
            self.message_user(request, text % {"name": obj, "job": job.pk}, messages.SUCCESS)


class BotDeletingAdmin(DeletesInBackgroundMixin, BotWithForwardingAdmin):
    deletion_kind = DeletionJob.Kind.BOT

    def request_deletion(self, obj, user):
        return services.request_bot_deletion(obj, user, via="admin")


class ConversationDeletingAdmin(DeletesInBackgroundMixin, ConversationAdmin):
    deletion_kind = DeletionJob.Kind.CONVERSATION

    def request_deletion(self, obj, user):
        return services.request_conversation_deletion(obj, user, via="admin")


admin.site.unregister(Bot)
admin.site.register(Bot, BotDeletingAdmin)
admin.site.unregister(Conversation)
admin.site.register(Conversation, ConversationDeletingAdmin)


@admin.register(DeletionJob)
class DeletionJobAdmin(DeclaredFiltersOnlyAdminMixin, admin.ModelAdmin):
    """The jobs: what was deleted, by whom, how far it got. Users who may view them see
    those of the bots they operate and the ones they asked for; superusers all."""

    list_display = (
        "__str__",
        "bot_label",
        "status",
        "attempts",
        "requested_by_label",
        "requested_at",
        "finished_at",
    )
    actions = ("retry_failed",)
    list_filter = ("kind", "status")
    search_fields = ("target_label", "bot_label", "requested_by_label")
    error_shown = admin_display("error", gettext_lazy("error"))
    readonly_fields = (
        "kind",
        "target_id",
        "target_label",
        "bot_ref",
        "bot_label",
        "requested_by_label",
        "status",
        "planned",
        "counts",
        "sends",
        "error_shown",
        "attempts",
        "next_attempt_at",
        "requested_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
    )
    exclude = ("requested_by", "error", "on_the_wire")

    def get_queryset(self, request):
        jobs = super().get_queryset(request)
        if request.user.is_superuser:
            return jobs
        visible = bots_visible_to(request.user).values("pk")
        return jobs.filter(Q(requested_by=request.user) | Q(bot_ref__in=visible))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "<int:pk>/retry/",
                self.admin_site.admin_view(require_POST(self.retry_view)),
                name="deletions_deletionjob_retry",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, unquote(object_id))
        extra_context = {
            **(extra_context or {}),
            "can_retry": job is not None and services.may_retry(request.user, job),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def retry_view(self, request, pk):
        job = get_object_or_404(self.get_queryset(request), pk=pk)
        if not services.may_retry(request.user, job):
            raise PermissionDenied
        self._retry(request, job)
        return redirect(reverse("admin:deletions_deletionjob_change", args=[job.pk]))

    @admin.action(description=gettext_lazy("Try the selected failed deletions again"))
    def retry_failed(self, request, queryset):
        jobs = [job for job in queryset if services.may_retry(request.user, job)]
        for job in jobs:
            self._retry(request, job)
        if not jobs:
            self.message_user(
                request,
                _("None of the selected deletions failed, or you may not retry them."),
                messages.WARNING,
            )

    def _retry(self, request, job: DeletionJob) -> None:
        followed = services.retry(job, request.user)
        if followed.pk != job.pk:
            text = _("%(name)s is being deleted by deletion job %(job)s already.")
        else:
            text = _("The deletion of %(name)s was started again.")
        name = job.target_label or job.target_id
        self.message_user(request, text % {"name": name, "job": followed.pk}, messages.SUCCESS)
