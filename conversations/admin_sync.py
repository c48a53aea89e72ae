"""Contact sync in the admin: "Sync now" per bot and for many, the last runs, live progress."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy
from django.views.decorators.http import require_POST

from audit.admin_changes import atomic_action
from botadmin.admin_scoping import BotScopedAdminMixin, ReadOnlyAdminMixin, VisibleRelatedFilter
from botadmin.reasons import translate

from .bot_changes import request_sync_by
from .models import Bot, SyncRun
from .sync_requests import checks_entered, not_possible_reason

RECENT_RUNS = 5


def request_sync_from_admin(request, bot: Bot) -> tuple[SyncRun, bool]:
    return request_sync_by(request.user, bot, SyncRun.Trigger.ADMIN)


def sync_status_html(bot: Bot) -> tuple[str, bool]:
    """The bot page's sync block: the last runs, the running one with its progress."""
    runs = list(bot.sync_runs.all()[:RECENT_RUNS])
    why_not = not_possible_reason(bot)
    active = any(run.is_active for run in runs)
    html = render_to_string(
        "admin/conversations/bot/sync_status.html",
        {
            "bot": bot,
            "runs": runs,
            "active": active,
            "all_runs_url": reverse("admin:conversations_syncrun_changelist")
            + f"?bot__id__exact={bot.pk}",
            "sync_url": reverse("admin:conversations_bot_sync_contacts", args=[bot.pk]),
            "can_sync": why_not is None,
            "not_possible_reason": translate(why_not or ""),
            "checks_entered": checks_entered(bot),
        },
    )
    return html, active


class ContactSyncBotAdminMixin:
    """Added to BotAdmin: the sync block on the bot page, its URLs, and the bulk action."""

    @admin.display(description=_("contact sync"))
    def contact_sync(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        html, active = sync_status_html(obj)
        return format_html(
            '<div class="sync-status" data-sync-status-url="{}" data-active="{}">{}</div>',
            reverse("admin:conversations_bot_sync_status", args=[obj.pk]),
            "1" if active else "0",
            html,
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/sync-contacts/",
                self.admin_site.admin_view(require_POST(self.sync_contacts_view)),
                name="conversations_bot_sync_contacts",
            ),
            path(
                "<int:pk>/sync-status/",
                self.admin_site.admin_view(self.sync_status_view),
                name="conversations_bot_sync_status",
            ),
            *super().get_urls(),
        ]

    def sync_contacts_view(self, request, pk):
        bot = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, bot):
            raise PermissionDenied
        run, created = request_sync_from_admin(request, bot)
        if run.outcome == SyncRun.Outcome.NOT_POSSIBLE:
            messages.warning(request, run.shown_error)
        elif created:
            messages.success(request, _("A contact sync of %(bot)s started.") % {"bot": bot.name})
        else:
            messages.info(
                request,
                _("A contact sync of %(bot)s was already running; follow it below.")
                % {"bot": bot.name},
            )
        return redirect(reverse("admin:conversations_bot_change", args=[bot.pk]) + "#sync")

    def sync_status_view(self, request, pk):
        bot = get_object_or_404(self.get_queryset(request), pk=pk)
        html, active = sync_status_html(bot)
        return JsonResponse({"active": active, "html": html})

    @admin.action(
        description=_("Sync users and groups of the selected bots"), permissions=["change"]
    )
    @atomic_action
    def sync_contacts(self, request, queryset):
        started = joined = not_possible = 0
        why: dict[str, None] = {}  # each reason once, in order
        for bot in queryset:
            run, created = request_sync_from_admin(request, bot)
            if run.outcome == SyncRun.Outcome.NOT_POSSIBLE:
                not_possible += 1
                why[run.shown_error] = None
                continue
            started += created
            joined += not created
        if started:
            messages.success(
                request,
                ngettext("Started %(n)d contact sync.", "Started %(n)d contact syncs.", started)
                % {"n": started},
            )
        if joined:
            messages.success(
                request,
                ngettext(
                    "%(n)d contact sync was already running.",
                    "%(n)d contact syncs were already running.",
                    joined,
                )
                % {"n": joined},
            )
        if not_possible:
            messages.warning(
                request,
                _("%(count)d of the bots cannot sync: %(reason)s")
                % {"count": not_possible, "reason": " ".join(why)},
            )


@admin.register(SyncRun)
class SyncRunAdmin(BotScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "requested_at",
        "bot",
        "trigger",
        "outcome",
        "pages_fetched",
        "users_summary",
        "groups_summary",
        "groups_unchecked",
        "groups_not_working",
        "finished_at",
        "short_error",
    )
    list_filter = ("outcome", "trigger", ("bot", VisibleRelatedFilter))
    list_select_related = ("bot",)
    date_hierarchy = "requested_at"
    show_full_result_count = False

    @admin.display(description=_("users"))
    def users_summary(self, obj):
        return _counts(obj, "user")

    @admin.display(description=pgettext_lazy("contact sync", "groups"))
    def groups_summary(self, obj):
        return _counts(obj, "group")

    @admin.display(description=_("error"))
    def short_error(self, obj):
        return obj.shown_error[:120]


def _counts(run: SyncRun, kind: str) -> str:
    counts = run.counts()[kind]
    return (
        f"+{counts['added']} ~{counts['updated']} −{counts['deactivated']} ↺{counts['reactivated']}"
    )
