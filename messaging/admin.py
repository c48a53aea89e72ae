from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit.admin_changes import atomic_action
from botadmin.admin_scoping import BotScopedAdminMixin, ReadOnlyAdminMixin, VisibleRelatedFilter
from botadmin.reasons import admin_display

from . import delivery_actions, status_labels
from .models import DeliveryAttempt, Message, MessageMedia


class DeliveryAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryAttempt
    fields = (
        "started_at",
        "duration_ms",
        "outcome",
        "http_status",
        "errcode",
        "response_text_shown",
        "worker",
    )
    readonly_fields = fields
    extra = 0
    response_text_shown = admin_display("response_text", _("response or error"))


class MessageMediaInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = MessageMedia
    fields = (
        "kind",
        "cdn_type",
        "cdn",
        "original_name",
        "status",
        "error_shown",
        "stored_file",
        "stored_at",
    )
    readonly_fields = fields
    extra = 0
    error_shown = admin_display("error", _("fetch error"))


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, BotScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "bot",
        "conversation",
        "direction",
        "msgtype",
        "status_label",
        "source",
        "preview",
        "attempt_count",
    )
    list_filter = ("direction", "status", "source", "msgtype", ("bot", VisibleRelatedFilter))
    search_fields = ("msgid", "search_text", "upstream_msgid", "conversation__conversation_id")
    list_select_related = ("bot", "conversation")
    # Counting a large log on every page is the slowest part of a changelist.
    show_full_result_count = False
    inlines = (DeliveryAttemptInline, MessageMediaInline)
    actions = ("retry_now", "mark_sent", "cancel")
    fieldsets = (
        (None, {"fields": ("msgid", "bot", "conversation", "direction", "msgtype", "body")}),
        (_("Sender"), {"fields": ("sender_id", "sender_name", "upstream_msgid")}),
        (
            _("Delivery"),
            {
                "fields": (
                    "status",
                    "sent_as",
                    "conversion",
                    "source",
                    "created_by",
                    "idempotency_key",
                    "scheduled_at",
                    "next_attempt_at",
                    "sent_at",
                    "attempt_count",
                    "last_error_shown",
                )
            },
        ),
        (_("Timestamps"), {"fields": ("created_at", "updated_at")}),
    )

    last_error_shown = admin_display("last_error", _("last error"))

    @admin.display(description=_("content"))
    def preview(self, obj):
        return Truncator(obj.search_text).chars(60)

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj):
        if obj.status == Message.Status.UNCERTAIN:
            return format_html(
                '<strong class="status-uncertain" title="{}">⚠ {}</strong>',
                _("It may have been posted: check the chat, then retry it or mark it as sent."),
                obj.get_status_display(),
            )
        return status_labels.message_status(obj)[1]

    # History stays read-only; these actions move a message's delivery on.
    def has_operate_permission(self, request):
        return request.user.has_perm("messaging.change_message")

    def _apply(self, request, queryset, action, done_message):
        """`done_message(n)`: what was done to n messages, counted (ngettext)."""
        changed = sum(action(message, request.user) for message in queryset)
        skipped = queryset.count() - changed
        self.message_user(request, done_message(changed) % {"n": changed}, messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(n)d message was skipped: its status does not allow this.",
                    "%(n)d messages were skipped: their status does not allow this.",
                    skipped,
                )
                % {"n": skipped},
                messages.WARNING,
            )

    @admin.action(description=_("Retry now (failed or uncertain)"), permissions=["operate"])
    @atomic_action
    def retry_now(self, request, queryset):
        def done(n):
            return ngettext("Queued %(n)d message again.", "Queued %(n)d messages again.", n)

        self._apply(request, queryset, delivery_actions.retry_now, done)

    @admin.action(description=_("Mark as sent (uncertain)"), permissions=["operate"])
    @atomic_action
    def mark_sent(self, request, queryset):
        def done(n):
            return ngettext("Marked %(n)d message as sent.", "Marked %(n)d messages as sent.", n)

        self._apply(request, queryset, delivery_actions.mark_sent, done)

    @admin.action(description=_("Cancel (queued or scheduled)"), permissions=["operate"])
    @atomic_action
    def cancel(self, request, queryset):
        def done(n):
            return ngettext("Cancelled %(n)d message.", "Cancelled %(n)d messages.", n)

        self._apply(request, queryset, delivery_actions.cancel, done)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdminMixin, BotScopedAdminMixin, admin.ModelAdmin):
    bot_lookup = "message__bot"
    list_display = ("started_at", "message", "outcome", "http_status", "errcode", "duration_ms")
    list_filter = ("outcome",)
    search_fields = ("message__msgid",)
    list_select_related = ("message",)
    show_full_result_count = False
