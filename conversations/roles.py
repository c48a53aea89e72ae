"""The two roles a user has on a bot: operator and bot admin.

*Operators* (the bot's `operators`) read its history, reply, compose
announcements and fix its messages. *Bot admins* are operators who also hold
the model permission `conversations.administer_bot`: on the bots they
operate they change the connector settings (the agent URL among them),
webhook endpoints, secrets and operators. Superusers are both, on every bot.
Creating a bot takes `conversations.add_bot` and the bot admin permission;
its creator becomes its first operator.

A model permission rather than a role per bot: Django's groups already give
it to a team, and it keeps one list of operators per bot.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q

from .models import Bot
from .services import bots_visible_to

ADMINISTER_PERMISSION = "conversations.administer_bot"
CHANGE_PERMISSION = "conversations.change_bot"
ADD_PERMISSION = "conversations.add_bot"


def is_bot_admin(user, bot: Bot) -> bool:
    """Whether `user` may change this bot's connector, webhooks, secrets and operators."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.has_perm(ADMINISTER_PERMISSION) and bot.operators.filter(pk=user.pk).exists()


def may_resume_sending(user, bot: Bot) -> bool:
    """Resuming a paused bot: whoever may fix what paused it (its connector settings)."""
    return is_bot_admin(user, bot)


def bot_admins(bot: Bot):
    """The bot's operators who are its bot admins (superusers aside: they are every
    bot's), to tell an operator who may do what only they may."""
    perm = ADMINISTER_PERMISSION.split(".")[1]
    granted = Q(user_permissions__codename=perm) | Q(groups__permissions__codename=perm)
    return (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | granted, is_active=True, bots=bot)
        .distinct()
        .order_by("username")
    )


def may_change_sending(user, bot: Bot) -> bool:
    """Quiet hours, pace and time zone: operators with the change permission, and bot admins."""
    return is_bot_admin(user, bot) or (
        user.has_perm(CHANGE_PERMISSION) and bots_visible_to(user).filter(pk=bot.pk).exists()
    )


def may_create_bots(user) -> bool:
    return (
        user.is_authenticated
        and user.is_active
        and user.has_perm(ADD_PERMISSION)
        and user.has_perm(ADMINISTER_PERMISSION)
    )
