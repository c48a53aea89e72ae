from django.contrib import admin
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from botadmin.admin_scoping import BotScopedAdminMixin, ReadOnlyAdminMixin

from .forwarding import admin as forwarding_admin  # noqa: F401  (registers its models)
from .models import DeliveryAttempt, Message, MessageMedia, WebhookDelivery


class DeliveryAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("started_at", "duration_ms", "outcome", "http_status", "errcode", "response_text")
    readonly_fields = fields
    extra = 0


class MessageMediaInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = MessageMedia
    fields = ("kind", "cdn_type", "cdn", "file", "content_type", "size", "stored_at")
    readonly_fields = fields
    extra = 0


class WebhookDeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookDelivery
    fields = ("endpoint", "status", "attempt_count", "last_http_status", "next_attempt_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, BotScopedAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "bot",
        "conversation",
        "direction",
        "msgtype",
        "status",
        "source",
        "preview",
        "attempt_count",
    )
    list_filter = ("direction", "status", "source", "msgtype", "bot")
    search_fields = ("msgid", "search_text", "upstream_msgid", "conversation__conversation_id")
    list_select_related = ("bot", "conversation")
    # Counting a large log on every page is the slowest part of a changelist.
    show_full_result_count = False
    inlines = (DeliveryAttemptInline, MessageMediaInline, WebhookDeliveryInline)
    fieldsets = (
        (None, {"fields": ("msgid", "bot", "conversation", "direction", "msgtype", "body")}),
        (_("Sender"), {"fields": ("sender_id", "sender_name", "upstream_msgid")}),
        (
            _("Delivery"),
            {
                "fields": (
                    "status",
                    "source",
                    "created_by",
                    "idempotency_key",
                    "scheduled_at",
                    "next_attempt_at",
                    "sent_at",
                    "attempt_count",
                    "last_error",
                )
            },
        ),
        (_("Timestamps"), {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description=_("content"))
    def preview(self, obj):
        return Truncator(obj.search_text).chars(60)


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdminMixin, BotScopedAdminMixin, admin.ModelAdmin):
    bot_lookup = "message__bot"
    list_display = ("started_at", "message", "outcome", "http_status", "errcode", "duration_ms")
    list_filter = ("outcome",)
    search_fields = ("message__msgid",)
    list_select_related = ("message",)
    show_full_result_count = False
