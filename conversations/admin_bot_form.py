"""The admin's bot form: the bot's own fields and every connector's settings fields,
which Bot.clean() checks for the connector chosen."""

import copy

from django import forms
from django.utils.translation import gettext_lazy as _

from botadmin.edited_meanwhile import ChangedOnThePage, refused_as_changed_meanwhile
from botadmin.forms import (
    GENERATED,
    KEEP_CURRENT,
    WebhookURLField,
    with_hint,
)
from botadmin.masked_urls import mask_url_fields
from connectors import bot_settings
from connectors.registry import CONNECTORS

from .bot_changes import OtherFieldErrorsOnTheForm, time_zone_field
from .models import Bot


def _settings_fields(adding: bool) -> dict[str, forms.Field]:
    """Every connector's settings fields, optional here: Bot.clean() checks the chosen one's.
    Empty, a generated setting is generated on the add page (`BotAdminFormBase.clean`)
    and a secret keeps its value on the change page."""
    declared: dict[str, forms.Field] = {}
    for connector in CONNECTORS.values():
        for name, field in bot_settings.fields(connector).items():
            if name not in declared:
                declared[name] = copy.deepcopy(field)
                declared[name].required = False
            hint = None
            if adding and name in connector.generated_settings:
                hint = GENERATED
            elif not adding and bot_settings.is_secret(field):
                hint = KEEP_CURRENT
            if hint is not None and declared[name].help_text == field.help_text:
                declared[name].help_text = with_hint(field.help_text, hint)
    return declared


def connector_fieldsets() -> list[tuple]:
    """One fieldset per connector with settings, titled with its label."""
    placed: set[str] = set()
    sets = []
    for kind, connector in CONNECTORS.items():
        names = [name for name in bot_settings.fields(connector) if name not in placed]
        placed.update(names)
        if names:
            sets.append((connector.label, {"fields": names, "classes": (f"connector-{kind}",)}))
    return sets


CONNECTOR_SWITCHED_MEANWHILE = _(
    "This bot's connector was switched to %(now)s after this page was opened (in another "
    "tab or by another user), so it was not switched to %(chosen)s. Save again to switch "
    "it to %(chosen)s, or choose %(now)s to keep it."
)


def label(kind: str) -> str:
    connector = CONNECTORS.get(kind)
    return str(connector.label) if connector is not None else kind


class BotAdminFormBase(ChangedOnThePage, OtherFieldErrorsOnTheForm, forms.ModelForm):
    """The bot form; the connectors' settings fields are added from their forms below."""

    class Meta:
        model = Bot
        fields = (
            "name",
            "is_active",
            "connector",
            "webhook_url",
            "rate_limit_per_minute",
            "operators",
        )
        field_classes = {"webhook_url": WebhookURLField}  # checked as forwarding checks it

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "timezone" in self.fields:  # not when read-only
            self.fields["timezone"] = time_zone_field(self.instance)
        if self.instance.pk:
            for connector in CONNECTORS.values():
                for name, value in bot_settings.stored_values(connector, self.instance).items():
                    # Secrets too: their PasswordInput never renders the value.
                    if name in self.fields:
                        self.initial.setdefault(name, value)
        settings = {}
        for connector in CONNECTORS.values():
            settings.update(bot_settings.stored_values(connector, self.instance))
        if self.instance.pk:
            # The page posts every value it showed too (initial-NAME), as the console's
            # forms do (ChangedOnThePage): a tab opened before another tab or user changed
            # the bot neither puts back what it showed (the name, the switch, the
            # settings) nor overrides unseen what it changed there too; a connector
            # switched meanwhile is told on its own (`clean_connector`). Secrets are
            # never shown.
            self.show_shown_values(
                [name for name, field in self.fields.items() if not bot_settings.is_secret(field)]
            )
        mask_url_fields(self, {"webhook_url": self.instance.webhook_url, **settings})

    def clean_connector(self) -> str:
        """The connector chosen on the page, or the one stored when the page left it as it
        showed it: a tab opened before another tab or user switched the bot's connector
        does not switch it back. One it switched there too is refused once, saying so
        (the row is read under its lock when posted: ChecksTheRowItSavesOver)."""
        chosen = self.cleaned_data["connector"]
        stored = self.instance.connector
        shown = self.data.get(self.add_initial_prefix("connector"))
        if not self.instance.pk or shown is None:  # None: a post from a script
            return chosen
        if chosen == shown:
            return stored
        if stored not in (shown, chosen):
            raise refused_as_changed_meanwhile(
                self,
                self.add_initial_prefix("connector"),
                stored,
                CONNECTOR_SWITCHED_MEANWHILE,
                code="switched",
                params={"chosen": label(chosen), "now": label(stored)},
            )
        return chosen

    def clean(self):
        data = super().clean()
        connector = CONNECTORS.get(data.get("connector") or "")
        if connector is None:
            return data
        stored = bot_settings.stored_values(connector, self.instance)
        values = {}
        for name, field in bot_settings.fields(connector).items():
            if name not in data:
                continue  # the field's own error is shown
            value = data[name]
            if bot_settings.is_secret(field) and not value and self.instance.pk:
                value = stored.get(name, "")  # write-only: empty keeps it
            elif self.fields[name].show_hidden_initial and name not in self.changed_data:
                value = stored.get(name, "")  # left as the page showed it: as stored now
            values[name] = data[name] = value
        bot_settings.store(connector, self.instance, values)
        if not self.instance.pk:
            # As the console and createbot do (conversations.bot_changes.create_bot).
            bot_settings.generate_missing(connector, self.instance)
        return data


def bot_admin_form(adding: bool) -> type[BotAdminFormBase]:
    """The bot form with every registered connector's settings fields."""
    return type("BotAdminForm", (BotAdminFormBase,), _settings_fields(adding))
