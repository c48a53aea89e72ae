"""The forms of the console's bot pages.

A bot's connector settings come from its connector's own `settings_form`
(connectors/bot_settings.py maps them to the bot): secrets are write-only
(empty keeps the stored value), URLs are shown masked (a masked URL sent back
keeps the stored one, botadmin/masked_urls.py) and generated ones (the agent
token) may be left empty when a bot is created.
"""

from __future__ import annotations

from django import forms
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from botadmin.edited_meanwhile import ChangedOnThePage, changed_on_the_page
from botadmin.forms import (
    GENERATED,
    KEEP_CURRENT,
    NoLabelSuffix,
    formfield_with_own_minimum,
    with_hint,
)
from botadmin.masked_urls import mask_url_fields
from connectors import bot_settings
from connectors.registry import CONNECTORS
from conversations.bot_changes import (
    ROBOT_KEY_REQUIRED,
    OtherFieldErrorsOnTheForm,
    clean_robot_key,
    time_zone_field,
)
from conversations.models import Bot, Conversation
from messaging.retention import retention_days


def connector_settings_form(connector, bot: Bot | None, data=None) -> forms.Form:
    """The connector's settings form, filled from the bot's stored values."""
    stored = bot_settings.stored_values(connector, bot) if bot is not None else {}
    initial = {
        name: value
        for name, value in stored.items()
        if not bot_settings.is_secret(bot_settings.fields(connector)[name])
    }
    form = connector.settings_form(data=data, initial=initial, prefix="settings")
    if bot is not None:
        # Each shown value posted too: a stale tab saves only what it changed, not the
        # agent URL another tab changed since (secrets are never shown: empty keeps).
        for field in form.fields.values():
            field.show_hidden_initial = not bot_settings.is_secret(field)
    mask_url_fields(form, initial)
    for name, field in form.fields.items():
        if not bot_settings.is_secret(field):
            continue
        if stored.get(name):
            field.required = False
            field.help_text = with_hint(field.help_text, KEEP_CURRENT)
        elif bot is None and name in connector.generated_settings:
            field.required = False
            field.help_text = with_hint(field.help_text, GENERATED)
    for name, anchor in connector.field_docs.items():
        if name in form.fields:
            link_where_to_find(form.fields[name], anchor)
    form.stored = stored
    return form


def link_where_to_find(field: forms.Field, anchor: str) -> None:
    """A link after the field's help text to the section of docs/bots.md that says
    where in WeCom its value is found (the console serves it in the reader's language)."""
    field.help_text = format_html(
        '{} <a href="{}#{}" class="help-docs">{}</a>',
        field.help_text,
        reverse("console:docs", args=["bots"]),
        anchor,
        _("Where to find it"),
    )


def settings_values(form: forms.Form) -> dict:
    """The validated values; an empty secret keeps what is stored, and a bot's page
    gives only the values it changed (the others as stored now).

    A bot's empty secret is left out, not filled with the value this request read:
    `change_connector_settings` keeps the one stored when it has locked the bot, so a
    new one another admin saved meanwhile is not put back to the old one."""
    changed = changed_on_the_page(form)
    values = {}
    for name, field in form.fields.items():
        value = form.cleaned_data.get(name)
        if bot_settings.is_secret(field) and not value:
            if name in form.stored:  # a bot's page
                continue
            value = ""
        elif field.show_hidden_initial and name not in changed:
            continue
        values[name] = value
    return values


class BotCreateForm(NoLabelSuffix, forms.Form):
    """The bot's name; its connector settings are the connector's form next to it.
    Bot.full_clean() in `create_bot` checks both together."""

    name = forms.CharField(label=_("name"), max_length=100)


def connector_choices() -> list[tuple[str, str]]:
    return [(kind, cls.label) for kind, cls in CONNECTORS.items()]


class SendingForm(NoLabelSuffix, ChangedOnThePage, OtherFieldErrorsOnTheForm, forms.ModelForm):
    """Quiet hours, pace, time zone and retention."""

    class Meta:
        model = Bot
        formfield_callback = formfield_with_own_minimum
        fields = (
            "is_active",
            "rate_limit_per_minute",
            "quiet_hours_start",
            "quiet_hours_end",
            "timezone",
            "message_retention_days",
        )
        widgets = {
            "quiet_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }
        # The bot's on/off switch: "active" (有效) read as a state, not as a switch.
        labels = {"is_active": pgettext_lazy("a bot's on/off switch", "Enabled")}
        help_texts = {
            "is_active": _("Off: this bot sends nothing, and its API refuses new messages.")
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"] = time_zone_field(self.instance)
        # A stale tab would turn a bot switched off on again (ChangedOnThePage).
        self.show_shown_values()
        # Fewer days than now deletes history that night: the page asks first
        # (static/botadmin/confirm.js). Empty means the server's setting; none keeps all.
        server = django_settings.BOTADMIN_MESSAGE_RETENTION_DAYS
        self.fields["message_retention_days"].widget.attrs.update(
            {
                "data-fewer-than": retention_days(self.instance) or "",
                "data-empty-means": server or "",
            }
        )


class AddOperatorForm(NoLabelSuffix, forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)

    def clean_username(self):
        name = self.cleaned_data["username"].replace("\x00", "")
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        if user is None:
            raise forms.ValidationError(_("No active user has this username."))
        return user


class ConversationForm(NoLabelSuffix, forms.ModelForm):
    """A conversation entered by hand, where the connector cannot list them."""

    class Meta:
        model = Conversation
        fields = ("name", "conversation_id", "kind", "robot_key")
        help_texts = {"conversation_id": _("The chat's ID on the other side; any unique name.")}

    def __init__(self, *args, bot: Bot, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.bot = bot
        self.fields["name"].required = True
        connector = CONNECTORS.get(bot.connector)
        if connector is not None:
            # Only the kinds it posts to, the first one chosen (a group robot: groups only).
            kinds = connector.conversation_kinds
            kind = self.fields["kind"]
            kind.choices = [(value, Conversation.Kind(value).label) for value in kinds]
            self.initial["kind"] = kinds[0]
        key = self.fields["robot_key"]
        key.required = connector is not None and connector.needs_robot_key
        key.error_messages["required"] = ROBOT_KEY_REQUIRED
        if key.required:
            key.help_text = _(
                "The key at the end of the group robot's Webhook地址 (…/webhook/send?key=…), "
                "shown when the robot is added in the group chat: ⋯ → 添加群机器人. The "
                "whole address may be pasted."
            )
            if anchor := connector.field_docs.get("robot_key"):
                link_where_to_find(key, anchor)

    def clean_robot_key(self):
        return clean_robot_key(self.instance.bot, self.cleaned_data["robot_key"])

    def validate_unique(self):
        # The bot is not a form field, so Django would skip the (bot, conversation_id) check.
        self._validate_unique = True
        exclude = self._get_validation_exclusions()
        exclude.discard("bot")
        try:
            self.instance.validate_unique(exclude=exclude)
        except forms.ValidationError as error:
            self._update_errors(error)
