"""Admin for forwarding: endpoints with their health, deliveries with their attempts, replays, test events."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from audit.admin_changes import AuditedAdminMixin, atomic_action
from botadmin.admin_scoping import (
    STORABLE_JSON,
    BotScopedAdminMixin,
    ReadOnlyAdminMixin,
    VisibleRelatedFilter,
    VisibleValuesFilter,
)
from botadmin.edited_meanwhile import ChangedOnThePage
from botadmin.forms import (
    OncePerPageActionForm,
    WebhookURLField,
    new_submission,
    posted_submission,
)
from botadmin.masked_urls import mask_url_fields, masked_url_display
from botadmin.reasons import admin_display
from botadmin.timezones import zone_or_default
from botadmin.url_spelling import normalized_url
from conversations.admin import BotAdmin
from conversations.admin_bot_secrets import secret_field
from conversations.admin_locking import ChecksTheRowItSavesOver
from conversations.models import Bot
from conversations.roles import ADMINISTER_PERMISSION, is_bot_admin
from conversations.secret_grace import (
    SIGNING_SECRET_NO_GRACE_QUESTION,
    GraceForm,
    grace_context,
    signing_secret_rotated_text,
)
from conversations.secrets import mask
from messaging.admin import MessageAdmin
from messaging.models import Message

from .endpoints import (
    EndpointExists,
    claim_url,
    reenable_endpoint,
    resumed_text,
    trailing_slash_warning,
)
from .forms import ReplayFailedForm, proposed_period, replay_posted
from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .replay import (
    AlreadyReplayed,
    TestEventAlreadySent,
    replay_deliveries,
    replay_failed,
    replayed_failed_text,
    run_test_event,
)
from .signing_secrets import reveal_signing_secret, rotate_signing_secret

REPLAY_PERMISSION = "forwarding.change_webhookdelivery"
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


def endpoint_health(endpoint: WebhookEndpoint) -> str:
    if not endpoint.is_active:
        return format_html('<span class="health off">{}</span>', _("Off"))
    if endpoint.disabled_at:
        return format_html(
            '<strong class="health disabled">{}</strong>',
            _("Disabled on %(when)s: deliveries kept failing for 3 days. Re-enable to resume.")
            % {"when": timezone.localtime(endpoint.disabled_at).strftime("%Y-%m-%d %H:%M")},
        )
    if endpoint.failure_streak:
        return format_html(
            '<span class="health failing">{}</span>',
            ngettext(
                "%(n)d failure in a row since %(when)s",
                "%(n)d failures in a row since %(when)s",
                endpoint.failure_streak,
            )
            % {
                "n": endpoint.failure_streak,
                "when": timezone.localtime(endpoint.failing_since).strftime("%Y-%m-%d %H:%M"),
            },
        )
    if endpoint.last_success_at:
        return format_html('<span class="health ok">{}</span>', _("Healthy"))
    return format_html('<span class="health new">{}</span>', _("No deliveries yet"))


class WebhookEndpointForm(ChangedOnThePage, forms.ModelForm):
    class Meta:
        model = WebhookEndpoint
        fields = ("bot", "url", "msgtypes", "description", "sends_api_secret", "is_active")
        field_classes = {"url": WebhookURLField}  # checked as forwarding checks it

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A tab opened before another changed the endpoint (its URL, its switch) saves
            # what it changed only, and is refused for a field both changed.
            self.show_shown_values()
        mask_url_fields(self, {"url": self.instance.url})

    def clean_msgtypes(self):
        value = self.cleaned_data.get("msgtypes") or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise forms.ValidationError(_('A list of msgtypes, e.g. ["text", "image"].'))
        return value

    def clean(self):
        data = super().clean()
        bot = data.get("bot") or getattr(self.instance, "bot", None)
        url = data.get("url")
        if bot is not None and url and url != self.instance.url:
            try:
                # The admin's add and change views save in the transaction the form is
                # checked in: the bot's row stays locked until this endpoint is saved.
                claim_url(bot, url, other_than=self.instance)
            except EndpointExists as exists:
                self.add_error("url", exists.message)
        return data


def _administers(request) -> bool:
    return request.user.is_superuser or request.user.has_perm(ADMINISTER_PERMISSION)


def _without_urls(fields, request) -> tuple[str, ...]:
    """The search fields, a URL among them for bot admins only: searching URLs would
    tell anyone else the password or key in one, a character at a time."""
    if _administers(request):
        return tuple(fields)
    return tuple(name for name in fields if name.split("__")[-1] != "url")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(
    ChecksTheRowItSavesOver, AuditedAdminMixin, BotScopedAdminMixin, admin.ModelAdmin
):
    audit_codes = {
        "add": "endpoint.create",
        "change": "endpoint.update",
        "delete": "endpoint.delete",
    }
    form = WebhookEndpointForm
    formfield_overrides = STORABLE_JSON
    list_display = (
        "url_shown",
        "bot",
        "is_primary",
        "msgtypes",
        "health",
        "last_success_at",
        "failure_streak",
        "is_active",
    )
    list_filter = (("bot", VisibleRelatedFilter), "is_active", "is_primary")
    search_fields = ("url", "description")
    list_select_related = ("bot",)
    health_fields = (
        "health",
        "last_success_at",
        "last_failure_at",
        "failing_since",
        "failure_streak",
        "disabled_at",
        "disabled_reason_shown",
    )
    readonly_fields = (
        "is_primary",
        "url_shown",
        *health_fields,
        "signing_secret_revealable",
        "signing_secret_masked",
        "signing_secret_grace",
        "created_at",
        "updated_at",
    )
    actions = ("reenable",)

    class Media:
        js = ("botadmin/copy.js", "botadmin/reveal.js")

    disabled_reason_shown = admin_display("disabled_reason", _("disabled because"))
    url_shown = masked_url_display("url", _("URL"), ordering="url")

    def get_fieldsets(self, request, obj=None):
        # A URL not edited here is shown masked (Django would show it whole).
        editable = self.has_change_permission(request, obj) and not (obj and obj.is_primary)
        url = "url" if editable or obj is None else "url_shown"
        # The signing secret shown masked; revealed and rotated by the bot's admins only.
        revealable = obj is not None and is_bot_admin(request.user, obj.bot)
        secret = "signing_secret_revealable" if revealable else "signing_secret_masked"
        fieldsets = [
            (
                None,
                {
                    "fields": (
                        "bot",
                        url,
                        "is_primary",
                        "msgtypes",
                        "description",
                        "sends_api_secret",
                        "is_active",
                    )
                },
            ),
            (_("Signing secret"), {"fields": (secret, "signing_secret_grace")}) if obj else None,
            (_("Health"), {"fields": self.health_fields}),
            (_("Timestamps"), {"fields": ("created_at", "updated_at")}),
        ]
        return [fieldset for fieldset in fieldsets if fieldset]

    def get_search_fields(self, request):
        return _without_urls(self.search_fields, request)

    @admin.display(description=_("health"))
    def health(self, obj):
        return endpoint_health(obj)

    @admin.display(description=_("signing secret"))
    def signing_secret_revealable(self, obj):
        reveal_url = reverse("admin:forwarding_webhookendpoint_reveal_secret", args=[obj.pk])
        rotate_url = reverse("admin:forwarding_webhookendpoint_rotate_secret", args=[obj.pk])
        return format_html(
            '{} <a class="button" href="{}">{}</a>',
            secret_field(obj.signing_secret, reveal_url),
            rotate_url,
            _("Rotate…"),
        )

    @admin.display(description=_("signing secret"))
    def signing_secret_masked(self, obj):
        return secret_field(obj.signing_secret)

    @admin.display(description=_("previous signing secret"))
    def signing_secret_grace(self, obj):
        if len(obj.signing_secrets()) < 2:  # none, or its grace is over
            return "—"
        return format_html(
            "<code>{}</code> {}",
            mask(obj.previous_signing_secret),
            _("also signs until %(when)s") % {"when": obj.previous_signing_secret_expires_at},
        )

    # Endpoints receive the bot's API secret with every event: bot admins only
    # (conversations/roles.py); the queryset already limits them to their bots.
    def has_add_permission(self, request):
        return super().has_add_permission(request) and _administers(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _administers(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and _administers(request)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("bot")
        return fields

    def save_model(self, request, obj, form, change):
        stopped = change and "is_active" in form.changed_data and not obj.is_active
        if stopped:
            obj.stopped_at = timezone.now()  # where recovering what it missed starts
        if change:
            # What the form changed, not every column of the row it read: a signing secret
            # rotated or a failure streak counted meanwhile is not undone.
            columns = {field.name for field in WebhookEndpoint._meta.concrete_fields}
            changed = [n for n in form.changed_data if n in columns]
            obj.save(update_fields=[*changed, *(["stopped_at"] if stopped else []), "updated_at"])
        else:
            super().save_model(request, obj, form, change)
        if "url" in form.changed_data and (warning := trailing_slash_warning(obj)):
            self.message_user(request, warning, messages.WARNING)

    @admin.action(description=_("Re-enable the selected endpoints"), permissions=["change"])
    @atomic_action
    def reenable(self, request, queryset):
        resumed = 0
        for endpoint in queryset.exclude(disabled_at=None):
            resumed += reenable_endpoint(endpoint, actor=request.user)
        messages.success(request, resumed_text(resumed))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/test-event/",
                view(self.test_event_view),
                name="forwarding_webhookendpoint_test_event",
            ),
            path(
                "<int:pk>/replay-failed/",
                view(self.replay_failed_view),
                name="forwarding_webhookendpoint_replay_failed",
            ),
            path(
                "<int:pk>/reveal-secret/",
                view(self.reveal_secret_view),
                name="forwarding_webhookendpoint_reveal_secret",
            ),
            path(
                "<int:pk>/rotate-secret/",
                view(self.rotate_secret_view),
                name="forwarding_webhookendpoint_rotate_secret",
            ),
            *super().get_urls(),
        ]

    def _endpoint(self, request, pk) -> WebhookEndpoint:
        endpoint = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_permission(request, endpoint):
            raise PermissionDenied
        return endpoint

    def _context(self, request, endpoint, title, **extra):
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "endpoint": endpoint,
            "opts": self.model._meta,
            "original": endpoint,
            **extra,
        }

    def test_event_view(self, request, pk):
        endpoint = self._endpoint(request, pk)
        result = None
        if request.method == "POST":
            if not self.has_change_permission(request, endpoint):
                raise PermissionDenied
            try:
                result = run_test_event(
                    request.user, endpoint, submission=posted_submission(request.POST)
                )
            except TestEventAlreadySent as already:
                messages.info(request, already.message)
        context = self._context(
            request,
            endpoint,
            _("Send a test event to %(url)s") % {"url": endpoint},
            result=result,
            submission=new_submission(),  # posted twice, the page sends one
        )
        return TemplateResponse(
            request, "admin/forwarding/webhookendpoint/test_event.html", context
        )

    def _administered_endpoint(self, request, pk) -> WebhookEndpoint:
        """The endpoint, if the user is a bot admin of its bot (its secret is theirs to see)."""
        endpoint = self._endpoint(request, pk)
        if not is_bot_admin(request.user, endpoint.bot):
            raise PermissionDenied
        return endpoint

    def reveal_secret_view(self, request, pk):
        """The endpoint's signing secret for a bot admin who clicked "show" (a POST: the
        admin's views are CSRF-protected); in the audit log, without the value."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        endpoint = self._administered_endpoint(request, pk)
        return JsonResponse({"value": reveal_signing_secret(endpoint, request.user, via="admin")})

    def rotate_secret_view(self, request, pk):
        """The console's choice of grace (conversations/secret_grace.py), for this endpoint's
        signing secret alone."""
        endpoint = self._administered_endpoint(request, pk)
        zone = zone_or_default(endpoint.bot.timezone)
        data = request.POST if request.method == "POST" else None
        form = GraceForm(data, now=timezone.now(), zone=zone, secret=endpoint.signing_secret)
        if form.rotates():
            if rotated := form.rotate(
                request, rotate_signing_secret, endpoint, via=" in the admin"
            ):
                expires = rotated.previous_signing_secret_expires_at
                messages.success(request, signing_secret_rotated_text(expires, zone))
            return redirect("admin:forwarding_webhookendpoint_change", endpoint.pk)
        title = _("Rotate the signing secret of %(url)s?") % {"url": endpoint}
        context = self._context(
            request, endpoint, title, **grace_context(form, zone, SIGNING_SECRET_NO_GRACE_QUESTION)
        )
        return TemplateResponse(
            request, "admin/forwarding/webhookendpoint/rotate_secret.html", context
        )

    def replay_failed_view(self, request, pk):
        endpoint = self._endpoint(request, pk)
        if not request.user.has_perm(REPLAY_PERMISSION):
            raise PermissionDenied
        form = ReplayFailedForm(request.POST or None, initial=proposed_period(endpoint))
        if request.method == "POST" and form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
            count = replay_failed(request.user, endpoint, start, end)
            messages.success(request, replayed_failed_text(count))
            changelist = reverse("admin:forwarding_webhookdelivery_changelist")
            return redirect(f"{changelist}?endpoint__id__exact={endpoint.pk}")
        failed = endpoint.deliveries.filter(status=WebhookDelivery.Status.FAILED).count()
        context = self._context(
            request,
            endpoint,
            _("Replay failed deliveries to %(url)s") % {"url": endpoint},
            form=form,
            failed=failed,
        )
        return TemplateResponse(
            request, "admin/forwarding/webhookendpoint/replay_failed.html", context
        )


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
