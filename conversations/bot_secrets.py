"""Which of a bot's values are secrets an admin may reveal: its API and signing
secrets and the settings its connector's form marks secret (a PasswordInput)."""

from __future__ import annotations

from connectors import bot_settings
from connectors.registry import CONNECTORS

from .models import Bot

BOT_SECRETS = ("secret", "signing_secret")


def secret_names(bot: Bot) -> list[str]:
    connector = CONNECTORS.get(bot.connector)
    fields = bot_settings.fields(connector) if connector else {}
    return [*BOT_SECRETS, *(name for name, f in fields.items() if bot_settings.is_secret(f))]


def secret_value(bot: Bot, which: str) -> str | None:
    """The secret's value ("" when unset), or None when `which` names no secret of the bot."""
    if which not in secret_names(bot):
        return None
    if which in BOT_SECRETS:
        return getattr(bot, which)
    return str(bot_settings.stored_values(CONNECTORS[bot.connector], bot).get(which) or "")
