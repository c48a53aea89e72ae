from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit.admin_changes import AuditedAdminMixin, atomic_action
from botadmin.admin_scoping import STORABLE_JSON, BotScopedAdminMixin, VisibleRelatedFilter
from botadmin.forms import (
    KEEP_CURRENT,
    OncePerPageActionForm,
    own_minimum,
    posted_submission,
    refused_as_changed_meanwhile,
    with_hint,
)
from botadmin.masked_urls import masked_url_display
from botadmin.reasons import admin_display, translate
from botadmin.timezones import zone_or_default
from connectors import bot_settings
from connectors.registry import CONNECTORS, connector_for

from . import connections
from .active_counts import forget_active_counts
from .admin_bot_form import BotAdminFormBase, bot_admin_form, connector_fieldsets
from .admin_group_chats import GroupChatBotAdminMixin
from .admin_locking import ChecksTheRowItSavesOver
from .admin_sync import ContactSyncBotAdminMixin
from .bot_changes import (
    clean_robot_key,
    fields_to_save,
    forget_refusal_of_old_credentials,
    record_operator_change,
)
from .bot_secrets import reveal
from .models import Bot, Conversation
from .pauses import resume_bot
from .refusals import refusal
from .roles import ADMINISTER_PERMISSION, is_bot_admin, may_create_bots
from .secret_grace import API_SECRET_NO_GRACE_QUESTION, GraceForm, grace_context, rotated_text
from .secrets import AlreadyRotated, fingerprint, mask, secrets_match
from .services import check_connection, rotate_secret


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


@admin.register(Bot)
class BotAdmin(
    ChecksTheRowItSavesOver,
    AuditedAdminMixin,
    ContactSyncBotAdminMixin,
    GroupChatBotAdminMixin,
    BotScopedAdminMixin,
    admin.ModelAdmin,
):
    bot_lookup = ""
    form = BotAdminFormBase
    list_display = (
        "name",
        "connector",
        "masked_secret",
        "conversation_count",
        "rate_limit_per_minute",
        "is_active",
        "sending_state",
        "created_at",
    )
    list_filter = ("connector", "is_active")
    search_fields = ("name",)
    readonly_fields = (
        "secret_revealable",
        "secret_masked",
        "secret_grace",
        "paused_at",
        "paused_reason_shown",
        "created_at",
        "updated_at",
        "contact_sync",
        "conversations_link",
        "learned",
        "long_connection",
        "webhook_url_shown",
    )
    paused_reason_shown = admin_display("paused_reason", _("reason for the pause"))
    webhook_url_shown = masked_url_display("webhook_url", _("webhook URL"))
    filter_horizontal = ("operators",)
    actions = (
        "rotate_secrets",
        "sync_contacts",
        "test_connection",
        "resume_sending",
        "reconnect_long_connection",
        "create_group_chat",
    )

    audit_codes = {"add": "bot.create", "change": "bot.update", "delete": "bot.delete"}
    action_form = OncePerPageActionForm  # rotate_secrets acts once per list page

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # A number's own minimum (retention ≥ 1 day), not its column's 0.
        return super().formfield_for_dbfield(
            db_field, request, **{**own_minimum(db_field), **kwargs}
        )

    def audited_changes(self, form):
        # Secret fields are write-only: they count as changed only when a new value was typed.
        return [
            name
            for name in form.changed_data
            if not bot_settings.is_secret(form.fields[name])
            or form.cleaned_data[name] != form.initial.get(name)
        ]

    class Media:
        js = ("botadmin/copy.js", "botadmin/reveal.js", "botadmin/sync-status.js")

    def get_fieldsets(self, request, obj=None):
        if obj is not None and is_bot_admin(request.user, obj):
            credentials = ("secret_revealable", "secret_grace")
        else:
            credentials = ("secret_masked", "secret_grace")
        # Edited by bot admins; shown masked to anyone else (Django would show it whole).
        webhook_url = "webhook_url" if self._administers(request, obj) else "webhook_url_shown"
        fieldsets = [
            (None, {"fields": ("name", "is_active")}),
            (_("Credentials"), {"fields": credentials}) if obj else None,
            (_("Connector"), {"fields": self._connector_fields(obj)}),
            *(connector_fieldsets() if self._administers(request, obj) else ()),
            (
                _("Forwarding and sending"),
                {"fields": (webhook_url, "rate_limit_per_minute", "message_retention_days")},
            ),
            (_("Quiet hours"), {"fields": ("quiet_hours_start", "quiet_hours_end", "timezone")}),
            (_("Contact sync"), {"fields": ("conversations_link", "contact_sync")})
            if obj
            else None,
            (_("Sending paused"), {"fields": ("paused_at", "paused_reason_shown")})
            if obj and obj.paused_at
            else None,
            (_("Access"), {"fields": ("operators",)}),
            (_("Timestamps"), {"fields": ("created_at", "updated_at")}),
        ]
        return [f for f in fieldsets if f]

    @staticmethod
    def _connector_fields(obj) -> tuple[str, ...]:
        if obj is None:
            return ("connector",)
        connector = CONNECTORS.get(obj.connector)
        if connector is not None and connector.long_connection:
            return ("connector", "learned", "long_connection")
        return ("connector", "learned")

    @admin.display(description=_("connection"))
    def long_connection(self, obj):
        shown = connections.status(obj)
        return render_to_string("admin/conversations/bot/connection.html", {"connection": shown})

    @admin.action(
        description=_("Reconnect the selected bots' long connection (after a takeover)"),
        permissions=["change"],
    )
    @atomic_action
    def reconnect_long_connection(self, request, queryset):
        for bot in queryset:
            if not connections.reconnect(bot, request.user):
                continue
            messages.success(
                request,
                _("%(bot)s: a gateway connects it again within seconds.") % {"bot": bot.name},
            )

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Connector settings (the agent URL among them) only for bot admins.
        administers = self._administers(request, obj)
        kwargs["form"] = bot_admin_form(adding=obj is None) if administers else BotAdminFormBase
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields.append("operators")
        if not self._administers(request, obj):
            fields += ["connector", "webhook_url"]
        return fields

    @staticmethod
    def _administers(request, obj) -> bool:
        if obj is None:
            return may_create_bots(request.user)
        return is_bot_admin(request.user, obj)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and may_create_bots(request.user)

    def has_administer_permission(self, request):
        return request.user.has_perm(ADMINISTER_PERMISSION)

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        # What the form changed, not every column of the row it read: a secret rotated or
        # a pause set meanwhile is not undone (conversations/bot_changes.py). (The operators
        # are saved by save_related; the change view's transaction holds the audit entry.)
        changed = self.audited_changes(form)
        fields = fields_to_save(changed)
        if "connector_settings" in fields:
            # One column holds several settings, secrets among them: the ones this form
            # changed go over the column as stored now (the row locked by get_object), so
            # that an empty secret keeps today's, not the one read.
            stored = Bot.objects.values_list("connector_settings", flat=True)
            current = stored.get(pk=obj.pk)
            mine = obj.connector_settings or {}
            obj.connector_settings = {
                **(current if isinstance(current, dict) else {}),
                **{name: mine[name] for name in changed if name in mine},
            }
        obj.save(update_fields=fields)
        forget_refusal_of_old_credentials(obj, changed)

    def save_related(self, request, form, formsets, change):
        bot = form.instance
        before = set(bot.operators.all()) if change else set()
        super().save_related(request, form, formsets, change)
        if not change and not request.user.is_superuser:
            bot.operators.add(request.user)  # else its creator could not see it
        after = set(bot.operators.all())
        removed = before - after
        for user in sorted(after - before, key=lambda user: user.pk):
            record_operator_change(bot, user, request.user, operator=True)
        for user in sorted(removed, key=lambda user: user.pk):
            record_operator_change(bot, user, request.user, operator=False)
        if removed:
            messages.warning(
                request,
                format_html(
                    '{} <a href="{}">{}</a>',
                    _("Operators were removed; if they saw the bot's secret, rotate it."),
                    reverse("admin:conversations_bot_rotate_secret", args=[form.instance.pk]),
                    _("Rotate…"),
                ),
            )

    def get_queryset(self, request):
        # A GROUP BY query drops Meta.ordering: the autocomplete's pages need one.
        bots = super().get_queryset(request).annotate(_conversation_count=Count("conversations"))
        return bots.order_by(*Bot._meta.ordering, "pk")

    @admin.display(description=_("sends natively"))
    def learned(self, obj):
        """What the connector sends for this bot (a bridge agent's announced msgtypes)."""
        sends = (
            ", ".join(sorted(connector_for(obj).msgtypes())) if obj.connector in CONNECTORS else ""
        )
        state = obj.connector_state if isinstance(obj.connector_state, dict) else {}
        checked = state.get("checked_at")
        if not checked:
            return sends or "—"
        return _("%(msgtypes)s (asked %(when)s)") % {"msgtypes": sends, "when": checked[:19]}

    @admin.display(description=_("API secret"))
    def masked_secret(self, obj):
        return format_html("<code>{}</code>", mask(obj.secret))

    @admin.display(description=_("conversations"))
    def conversations_link(self, obj):
        # A link, not an inline: a bot can have tens of thousands of conversations.
        url = reverse("admin:conversations_conversation_changelist") + f"?bot__id__exact={obj.pk}"
        count = obj.conversations.count()
        return format_html(
            '<a href="{}">{}</a>',
            url,
            ngettext("%(n)d conversation", "%(n)d conversations", count) % {"n": count},
        )

    @admin.display(description=_("conversations"), ordering="_conversation_count")
    def conversation_count(self, obj):
        return obj._conversation_count

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

    @admin.display(description=_("sending"))
    def sending_state(self, obj):
        if obj.paused_at:
            return format_html(
                '<strong class="bot-paused" title="{}">⏸ {}</strong>',
                translate(obj.paused_reason),
                _("paused"),
            )
        if refused := refusal(obj):  # the agent refuses the token: say so before any send
            return format_html(
                '<strong class="bot-refused" title="{}">⚠ {}</strong>',
                translate(refused["reason"]),
                _("credentials refused"),
            )
        return _("running")

    # Not atomic_action: each test asks the other side, and is recorded as it happened.
    @admin.action(description=_("Test the connection of the selected bots"), permissions=["view"])
    def test_connection(self, request, queryset):
        for bot in queryset:
            ok, text = check_connection(bot, request.user)
            level = {True: messages.SUCCESS, None: messages.WARNING}.get(ok, messages.ERROR)
            verdicts = {True: _("connection OK"), None: _("still connecting")}
            verdict = verdicts.get(ok, _("connection failed"))
            line = _("%(bot)s: %(verdict)s — %(detail)s")
            detail = {"bot": bot.name, "verdict": verdict, "detail": translate(text)}
            messages.add_message(request, level, line % detail)

    @admin.action(description=_("Resume sending (clear the pause)"), permissions=["change"])
    @atomic_action
    def resume_sending(self, request, queryset):
        for bot in queryset.filter(paused_at__isnull=False):
            waiting = resume_bot(bot, request.user)
            messages.success(
                request,
                ngettext(
                    "%(bot)s sends again; %(n)d waiting message was woken.",
                    "%(bot)s sends again; %(n)d waiting messages were woken.",
                    waiting,
                )
                % {"bot": bot.name, "n": waiting},
            )


ROBOT_KEY_REPLACED_MEANWHILE = _(
    "This group's robot key was replaced after this page was opened (in another tab or by "
    "another user), so the key typed here was not saved. Type it again to replace that "
    "one, or leave the field empty to keep it."
)


class RobotKeyAdminForm(forms.ModelForm):
    """A bot admin's conversation form: the group robot's key is write-only (typed to
    replace it, never filled in), and an empty field keeps the stored one. A key typed
    over one replaced since the page was drawn (another tab) is refused, as the console
    refuses an announcement edited since, and saved when typed again."""

    robot_key = forms.CharField(
        label=Conversation._meta.get_field("robot_key").verbose_name,
        max_length=200,
        required=False,
        widget=forms.PasswordInput,
    )
    # The fingerprint of the key the page was drawn for (never the key itself).
    robot_key_replacing = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["robot_key"].help_text = with_hint(
            Conversation._meta.get_field("robot_key").help_text, KEEP_CURRENT
        )
        self.initial["robot_key_replacing"] = fingerprint(self.instance.robot_key)

    @property
    def changed_data(self) -> list[str]:
        # The fingerprint is the page's, not the conversation's: no change to record. The
        # key's field is never filled in, so left empty it differs from the stored key
        # though it keeps it: only a typed key is a change.
        typed_key = str(self.data.get(self.add_prefix("robot_key"), "")).strip()
        unchanged = {"robot_key_replacing"} | (set() if typed_key else {"robot_key"})
        return [name for name in super().changed_data if name not in unchanged]

    def clean(self):
        data = super().clean()
        if "robot_key" not in data:
            return data
        bot = data.get("bot", getattr(self.instance, "bot", None))
        stored = self.instance.robot_key  # read under its row's lock when posted
        try:
            key = clean_robot_key(bot, data["robot_key"], stored)
        except ValidationError as error:
            self.add_error("robot_key", error)
            return data
        replacing = data.get("robot_key_replacing") or ""  # "" from a script: any key
        if key != stored and replacing and not secrets_match(fingerprint(stored), replacing):
            # Shown again for the key stored now: typed again, it replaces that one.
            refusal = refused_as_changed_meanwhile(
                self,
                self.add_prefix("robot_key_replacing"),
                fingerprint(stored),
                ROBOT_KEY_REPLACED_MEANWHILE,
                code="replaced",
            )
            self.add_error("robot_key", refusal)
            return data
        data["robot_key"] = key
        return data


@admin.register(Conversation)
class ConversationAdmin(
    ChecksTheRowItSavesOver, AuditedAdminMixin, BotScopedAdminMixin, admin.ModelAdmin
):
    audit_codes = {
        "add": "conversation.add",
        "change": "conversation.update",
        "delete": "conversation.delete",
    }
    list_display = (
        "__str__",
        "conversation_id",
        "kind",
        "bot",
        "is_active",
        "member_count",
        "last_inbound_at",
    )
    list_filter = ("kind", "is_active", ("bot", VisibleRelatedFilter))
    search_fields = ("name", "conversation_id")
    list_select_related = ("bot",)
    readonly_fields = (
        "masked_robot_key",
        "last_synced_at",
        "last_inbound_at",
        "created_at",
        "updated_at",
    )
    show_full_result_count = False
    formfield_overrides = STORABLE_JSON

    # A robot key posts into its group, like an agent URL: shown masked to everyone,
    # replaced only by bot admins (conversations/roles.py).
    @staticmethod
    def _administers(request, obj) -> bool:
        if obj is None:
            return request.user.is_superuser or request.user.has_perm(ADMINISTER_PERMISSION)
        return is_bot_admin(request.user, obj.bot)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = RobotKeyAdminForm if self._administers(request, obj) else forms.ModelForm
        return super().get_form(request, obj, change, **kwargs)

    def get_exclude(self, request, obj=None):
        return None if self._administers(request, obj) else ("robot_key",)

    # A conversation added, changed (its kind, active or not) or deleted here changes
    # its bot's counts on the compose page (conversations/active_counts.py).
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        forget_active_counts(obj.bot)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        forget_active_counts(obj.bot)

    def delete_queryset(self, request, queryset):
        bots = list(Bot.objects.filter(conversations__in=queryset).distinct())
        super().delete_queryset(request, queryset)
        for bot in bots:
            forget_active_counts(bot)

    @admin.display(description=_("robot webhook key"))
    def masked_robot_key(self, obj):
        return format_html("<code>{}</code>", mask(obj.robot_key)) if obj.robot_key else "—"
