"""The admin's webhook endpoint pages: health, test events, signing secrets, replays."""

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

from audit.admin_changes import AuditedAdminMixin
from botadmin.admin_scoping import STORABLE_JSON, BotScopedAdminMixin, VisibleRelatedFilter
from botadmin.edited_meanwhile import ChangedOnThePage
from botadmin.forms import WebhookURLField, new_submission, posted_submission
from botadmin.masked_urls import mask_url_fields, masked_url_display
from botadmin.reasons import admin_display
from botadmin.timezones import zone_or_default
from conversations.admin_bot_secrets import secret_field
from conversations.admin_locking import ChecksTheRowItSavesOver
from conversations.roles import ADMINISTER_PERMISSION, is_bot_admin
from conversations.secret_grace import (
    SIGNING_SECRET_NO_GRACE_QUESTION,
    GraceForm,
    grace_context,
    signing_secret_rotated_text,
)
from conversations.secrets import mask

from .admin_endpoint_actions import forward_missed, reenable
from .endpoints import (
    EndpointExists,
    claim_url,
    trailing_slash_warning,
)
from .forms import ReplayFailedForm, proposed_period
from .locks import lock_endpoint
from .models import WebhookDelivery, WebhookEndpoint
from .replay import TestEventAlreadySent, replay_failed, replayed_failed_text, run_test_event
from .signing_secrets import reveal_signing_secret, rotate_signing_secret

REPLAY_PERMISSION = "forwarding.change_webhookdelivery"


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
    lock_row = staticmethod(lock_endpoint)  # its bot's row first (forwarding/locks.py)
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
    actions = (reenable, forward_missed)

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
