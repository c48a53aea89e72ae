"""Admin for forwarding: endpoints with their health, deliveries with their attempts, replays, test events."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from audit.admin_changes import atomic_action
from botadmin.admin_scoping import (
    BotScopedAdminMixin,
    ReadOnlyAdminMixin,
    VisibleRelatedFilter,
    VisibleValuesFilter,
)
from botadmin.forms import (
    OncePerPageActionForm,
    new_submission,
    posted_submission,
)
from botadmin.masked_urls import masked_url_display
from botadmin.reasons import admin_display
from botadmin.url_spelling import normalized_url
from conversations.admin import BotAdmin
from conversations.models import Bot
from conversations.roles import is_bot_admin
from messaging.admin import MessageAdmin
from messaging.models import Message

from .admin_endpoints import REPLAY_PERMISSION, _administers, _without_urls
from .endpoints import (
    EndpointExists,
    claim_url,
    trailing_slash_warning,
)
from .forms import replay_posted
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .replay import (
    AlreadyReplayed,
    replay_deliveries,
)

ALREADY_REPLAYED = _(
    "The selected deliveries were already replayed from this page (posted twice?): they "
    "were not replayed again."
)


class WebhookDeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookDelivery
    fields = ("endpoint", "status", "attempt_count", "last_http_status", "next_attempt_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True


class MessageWithForwardingAdmin(MessageAdmin):
    """The messaging admin's message page, plus an inbound message's webhook deliveries."""

    inlines = (*MessageAdmin.inlines, WebhookDeliveryInline)


admin.site.unregister(Message)
admin.site.register(Message, MessageWithForwardingAdmin)


class WebhookURLOfItsOwn:
    """A bot form's check that no other endpoint of the bot has the webhook URL typed in
    (the primary endpoint mirrors it; claim_url). The change view saves the bot in the
    transaction the form is checked in, so the bot's row stays locked until then.

    `url_taken_at_save`: the URL another endpoint took after the check (where the row lock
    does not hold, as on SQLite): the form refuses it again, with the same message."""

    url_taken_at_save = ""

    def clean_webhook_url(self):
        url = self.cleaned_data["webhook_url"]  # normalised (WebhookURLField)
        if url and url == normalized_url(self.url_taken_at_save):
            raise forms.ValidationError(EndpointExists.message)
        if url and self.instance.pk and url != normalized_url(self.instance.webhook_url):
            try:
                claim_url(self.instance, url, for_primary=True)
            except EndpointExists as exists:
                raise forms.ValidationError(exists.message) from None
        return url


# Where the bot admin's change view keeps a URL taken at save time, for the form shown again.
_URL_TAKEN_AT_SAVE = "_webhook_url_taken_at_save"


class BotWithForwardingAdmin(BotAdmin):
    """The conversations admin's bot page, its webhook URL checked against the bot's
    other endpoints."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        taken = getattr(request, _URL_TAKEN_AT_SAVE, "")
        return type(form.__name__, (WebhookURLOfItsOwn, form), {"url_taken_at_save": taken})

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "webhook_url" in form.changed_data and obj.webhook_url:
            primary = WebhookEndpoint.objects.filter(bot=obj, is_primary=True).first()
            if primary is not None and (warning := trailing_slash_warning(primary)):
                self.message_user(request, warning, messages.WARNING)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """The bot saved, or its form shown again: a URL another endpoint took between the
        form's check and the save (sync_primary_endpoint raises EndpointExists) rolls the
        whole save back (Django's view runs in one transaction) and the form says so."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except EndpointExists as exists:
            if request.method != "POST" or hasattr(request, _URL_TAKEN_AT_SAVE):
                raise
            setattr(request, _URL_TAKEN_AT_SAVE, exists.endpoint.url)
        return super().changeform_view(request, object_id, form_url, extra_context)


admin.site.unregister(Bot)
admin.site.register(Bot, BotWithForwardingAdmin)


class WebhookAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = (
        "number",
        "started_at",
        "duration_ms",
        "outcome",
        "http_status",
        "url_shown",
        "response_text_shown",
        "worker",
    )
    readonly_fields = fields
    extra = 0
    response_text_shown = admin_display("response_text", _("answer or error"))
    url_shown = masked_url_display("url", _("URL"), ordering="url")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, BotScopedAdminMixin, admin.ModelAdmin):
    bot_lookup = "endpoint__bot"
    list_display = (
        "created_at",
        "webhook_id",
        "endpoint",
        "message_link",
        "status",
        "attempt_count",
        "last_http_status",
        "next_attempt_at",
        "replay_count",
    )
    list_filter = (
        "status",
        ("endpoint__bot", VisibleRelatedFilter),
        ("endpoint", VisibleRelatedFilter),
        ("message__msgtype", VisibleValuesFilter),
    )
    search_fields = ("message__msgid", "message__upstream_msgid", "endpoint__url")
    list_select_related = ("endpoint", "message")
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = (WebhookAttemptInline,)
    actions = ("replay",)
    action_form = OncePerPageActionForm  # posted twice from one list page, it replays once

    def get_search_fields(self, request):
        return _without_urls(self.search_fields, request)

    fields = (
        "webhook_id",
        "endpoint",
        "message_link",
        "status",
        "next_attempt_at",
        "attempt_count",
        "retry_step",
        "replay_count",
        "last_http_status",
        "last_error_shown",
        "delivered_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    last_error_shown = admin_display("last_error", _("last error"))

    @admin.display(description=_("webhook-id"))
    def webhook_id(self, obj):
        return obj.webhook_id

    @admin.display(description=_("message"))
    def message_link(self, obj):
        url = reverse("admin:messaging_message_change", args=[obj.message_id])
        return format_html('<a href="{}">{} {}</a>', url, obj.message.msgtype, obj.message.msgid)

    def has_replay_permission(self, request):
        """Bot admins only, as in the console: a replay posts the message again, with the
        bot's API secret to an endpoint that sends it; operators only look."""
        return request.user.has_perm(REPLAY_PERMISSION) and _administers(request)

    @admin.action(description=_("Replay the selected deliveries"), permissions=["replay"])
    @atomic_action
    def replay(self, request, queryset):
        try:
            count = replay_deliveries(
                request.user, queryset, submission=posted_submission(request.POST)
            )
        except AlreadyReplayed:
            messages.info(request, ALREADY_REPLAYED)
            return
        messages.success(
            request,
            ngettext("%(n)d delivery queued again.", "%(n)d deliveries queued again.", count)
            % {"n": count},
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/replay/",
                self.admin_site.admin_view(require_POST(self.replay_view)),
                name="forwarding_webhookdelivery_replay",
            ),
            *super().get_urls(),
        ]

    def replay_view(self, request, pk):
        delivery = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_replay_permission(request) or not is_bot_admin(
            request.user, delivery.endpoint.bot
        ):
            raise PermissionDenied
        replay_posted(request, delivery)
        return redirect("admin:forwarding_webhookdelivery_change", delivery.pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_replay": self.has_replay_permission(request),
            "submission": new_submission(),  # its Replay posted twice replays once
        }
        return super().change_view(request, object_id, form_url, extra_context)
