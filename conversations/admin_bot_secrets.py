"""The bot admin's API secret: shown masked, revealed to bot admins (audited), rotated."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit.admin_changes import atomic_action
from botadmin.forms import posted_submission
from botadmin.timezones import zone_or_default

from .bot_secrets import reveal
from .roles import is_bot_admin
from .secret_grace import API_SECRET_NO_GRACE_QUESTION, GraceForm, grace_context, rotated_text
from .secrets import AlreadyRotated, mask
from .services import rotate_secret


def secret_field(obj_value: str, reveal_url: str = ""):
    """Masked value; with `reveal_url` (bot admins) a "show" button that posts for the
    value (audited) and then copies it (static/botadmin/reveal.js). The value itself
    is never in the page."""
    if not obj_value:
        return "—"
    if not reveal_url:
        return format_html("<code>{}</code>", mask(obj_value))
    return format_html(
        '<span class="secret"><code class="secret-value">{}</code> '
        '<button type="button" class="button" data-reveal-url="{}" data-copy-label="{}">'
        "{}</button></span>",
        mask(obj_value),
        reveal_url,
        _("copy"),
        _("show"),
    )


class BotSecretsAdminMixin:
    """The API secret's fields, views and action on the bot's admin pages."""

    @admin.display(description=_("API secret"))
    def masked_secret(self, obj):
        return format_html("<code>{}</code>", mask(obj.secret))

    def _secret_with_rotate(self, obj, reveal: bool):
        rotate_url = reverse("admin:conversations_bot_rotate_secret", args=[obj.pk])
        return format_html(
            '{} <a class="button" href="{}">{}</a>',
            secret_field(obj.secret, self._reveal_url(obj, "secret") if reveal else ""),
            rotate_url,
            _("Rotate…"),
        )

    @staticmethod
    def _reveal_url(obj, which: str) -> str:
        return reverse("admin:conversations_bot_reveal_secret", args=[obj.pk, which])

    @admin.display(description=_("API secret"))
    def secret_revealable(self, obj):
        return self._secret_with_rotate(obj, reveal=True)

    @admin.display(description=_("API secret"))
    def secret_masked(self, obj):
        return self._secret_with_rotate(obj, reveal=False)

    @admin.display(description=_("previous secret"))
    def secret_grace(self, obj):
        if not obj.previous_secret or not obj.previous_secret_expires_at:
            return "—"
        return format_html(
            "<code>{}</code> {}",
            mask(obj.previous_secret),
            _("works until %(when)s") % {"when": obj.previous_secret_expires_at},
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/rotate-secret/",
                self.admin_site.admin_view(self.rotate_secret_view),
                name="conversations_bot_rotate_secret",
            ),
            path(
                "<int:pk>/reveal/<slug:which>/",
                self.admin_site.admin_view(self.reveal_secret_view),
                name="conversations_bot_reveal_secret",
            ),
            *super().get_urls(),
        ]

    def reveal_secret_view(self, request, pk, which):
        """One secret for a bot admin who clicked "show" (a POST: the admin's views
        are CSRF-protected); in the audit log, without the value."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        bot = get_object_or_404(self.get_queryset(request), pk=pk)
        if not is_bot_admin(request.user, bot):
            raise PermissionDenied
        value = reveal(bot, which, request.user, via="admin")
        if value is None:
            raise Http404
        return JsonResponse({"value": value})

    def rotate_secret_view(self, request, pk):
        """The console's choice of grace (conversations/secret_grace.py); "none" asks
        once more, since every caller still using the old secret fails at once."""
        bot = get_object_or_404(self.get_queryset(request), pk=pk)
        if not is_bot_admin(request.user, bot):
            raise PermissionDenied
        zone = zone_or_default(bot.timezone)
        data = request.POST if request.method == "POST" else None
        form = GraceForm(data, now=timezone.now(), zone=zone, secret=bot.secret)
        if form.rotates():
            if rotated := form.rotate(request, rotate_secret, bot, via=" in the admin"):
                messages.success(request, rotated_text(rotated, zone))
            return redirect("admin:conversations_bot_change", bot.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Rotate the API secret of %(bot)s?") % {"bot": bot.name},
            "bot": bot,
            "opts": self.model._meta,
            **grace_context(form, zone, API_SECRET_NO_GRACE_QUESTION),
        }
        return TemplateResponse(request, "admin/conversations/bot/rotate_secret.html", context)

    @admin.action(
        description=_("Rotate the API secret of the selected bots"), permissions=["administer"]
    )
    @atomic_action
    def rotate_secrets(self, request, queryset):
        # Posted twice from one list page (a double-clicked "Go"), the second rotation would
        # drop the old secrets whose grace the first began: each bot's is rotated once.
        submission = posted_submission(request.POST)
        rotated = already = 0
        for bot in queryset:
            try:
                rotate_secret(bot, actor=request.user, submission=submission)
            except AlreadyRotated:
                already += 1
            else:
                rotated += 1
        if rotated:
            messages.success(
                request,
                ngettext(
                    "Rotated %(n)d secret; the old one keeps working for a grace period.",
                    "Rotated %(n)d secrets; the old ones keep working for a grace period.",
                    rotated,
                )
                % {"n": rotated},
            )
        if already:
            messages.info(
                request,
                ngettext(
                    "%(n)d secret was already rotated from this page (posted twice?): it was "
                    "not rotated again.",
                    "%(n)d secrets were already rotated from this page (posted twice?): they "
                    "were not rotated again.",
                    already,
                )
                % {"n": already},
            )
