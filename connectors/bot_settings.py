"""A bot's connector settings: read, validated and stored through the connector's form.

`Connector.settings_form` is the one definition; this module maps its fields
to the bot: a field named like a Bot column (agent_url, agent_token) lives in
that column, any other in the JSON `Bot.connector_settings`. The admin's bot
form, `createbot` and `Bot.clean()` call these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms

if TYPE_CHECKING:
    from conversations.models import Bot

    from .base import Connector


def fields(connector: type[Connector]) -> dict[str, forms.Field]:
    return dict(connector.settings_form.base_fields)


def is_secret(field: forms.Field) -> bool:
    """A secret is shown masked and never filled back into a form."""
    return isinstance(field.widget, forms.PasswordInput)


def _column_names(bot: Bot) -> set[str]:
    return {f.name for f in type(bot)._meta.concrete_fields}


def stored_values(connector: type[Connector], bot: Bot) -> dict[str, str]:
    columns = _column_names(bot)
    extra = bot.connector_settings if isinstance(bot.connector_settings, dict) else {}
    return {
        name: getattr(bot, name) if name in columns else extra.get(name, "")
        for name in fields(connector)
    }


def store(connector: type[Connector], bot: Bot, values: dict) -> None:
    """Put the given settings on the (unsaved) bot; names the form does not have are ignored."""
    columns = _column_names(bot)
    extra = dict(bot.connector_settings or {})
    for name in fields(connector):
        if name not in values:
            continue
        value = "" if values[name] is None else values[name]
        if name in columns:
            setattr(bot, name, value)
        else:
            extra[name] = value
    bot.connector_settings = extra


def generate_missing(connector: type[Connector], bot: Bot) -> dict[str, str]:
    """Fill empty generated settings (e.g. the agent token); returns what was generated."""
    current = stored_values(connector, bot)
    generated = {
        name: make() for name, make in connector.generated_settings.items() if not current.get(name)
    }
    store(connector, bot, generated)
    return generated


def errors(connector: type[Connector], bot: Bot) -> dict[str, list[str]]:
    """The settings form's errors for the bot's stored values (empty: valid)."""
    form = connector.settings_form(data=stored_values(connector, bot))
    if form.is_valid():
        return {}
    return {name: list(messages) for name, messages in form.errors.items()}
