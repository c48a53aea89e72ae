"""Which of a bot's values are secrets an admin may reveal: its API secret and the
settings its connector's form marks secret (a PasswordInput). Each webhook endpoint's
signing secret is revealed on the endpoint's page (forwarding/signing_secrets.py).

Every page shows them masked; `reveal` hands one out on an explicit request
and records that in the audit log (which bot, which credential, never the value).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from audit.services import record_action
from connectors import bot_settings
from connectors.registry import CONNECTORS

from .models import Bot

BOT_SECRETS = ("secret",)
# "signing_secret": a webhook endpoint's, and the bot's one of earlier releases (the audit
# log names it in the entries of either).
_SECRET_LABELS = {"secret": _("API secret"), "signing_secret": _("webhook signing secret")}


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


def reveal(bot: Bot, which: str, actor, *, via: str) -> str | None:
    """The secret's value for a person who asked to see it, recorded in the audit log;
    None (and nothing recorded) when `which` names no secret of the bot. The caller
    checks that `actor` may see it (conversations/roles.py: a bot admin); `via` is
    "console" or "admin"."""
    value = secret_value(bot, which)
    if value is None:
        return None
    record_action(
        actor,
        "secret.reveal",
        bot=bot,
        target=bot,
        summary=f"Revealed {which} in the {via}.",
        details={"secret": which, "via": via},
    )
    return value


def secret_label(which: str) -> str:
    """A secret's name in words (its connector field's label), for the audit log."""
    if which in _SECRET_LABELS:
        return str(_SECRET_LABELS[which])
    for connector in CONNECTORS.values():
        field = bot_settings.fields(connector).get(which)
        if field is not None and bot_settings.is_secret(field):
            return str(field.label or which)
    return which
