from django.contrib import admin, messages
from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit.admin_changes import AuditedAdminMixin, atomic_action
from botadmin.admin_scoping import BotScopedAdminMixin
from botadmin.forms import OncePerPageActionForm, own_minimum
from botadmin.masked_urls import masked_url_display
from botadmin.reasons import admin_display, translate
from connectors import bot_settings
from connectors.registry import CONNECTORS, connector_for

from . import connections
from .admin_bot_form import BotAdminFormBase, bot_admin_form, connector_fieldsets
from .admin_bot_secrets import BotSecretsAdminMixin
from .admin_conversations import ConversationAdmin  # noqa: F401 (registers its pages)
from .admin_group_chats import GroupChatBotAdminMixin
from .admin_locking import ChecksTheRowItSavesOver
from .admin_sync import ContactSyncBotAdminMixin
from .bot_changes import fields_to_save, forget_refusal_of_old_credentials, record_operator_change
from .models import Bot
from .pauses import resume_bot
from .refusals import refusal
from .roles import ADMINISTER_PERMISSION, is_bot_admin, may_create_bots
from .services import check_connection


@admin.register(Bot)
class BotAdmin(
    ChecksTheRowItSavesOver,
    BotSecretsAdminMixin,
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
