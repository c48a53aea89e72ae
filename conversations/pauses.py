"""A bot's sending pause: set when the other side refused the bot's account, cleared by
an operator once it is put right.

A paused bot sends nothing: delivery claims only messages of bots that are not
paused, and a gateway does not hold the long connection of a bot paused because
its credentials were refused. Only this module writes the pause (apps own their
data): the delivery engine pauses a bot on an account problem (bad credentials,
risk control), a gateway when its credentials were refused
(`connections.refused`), and an operator resumes it here. Messaging wakes the
bot's waiting messages on `signals.bot_resumed`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.services import record_action
from botadmin import reasons

from .models import Bot
from .signals import bot_paused, bot_resumed

logger = logging.getLogger(__name__)


def pause_bot(bot_id: int, reason: str, now: datetime, by: str = "delivery", actor=None) -> bool:
    """Pause the bot with this reason, unless it is paused already (the first reason stays).

    Recorded in the audit log: `actor` (None: the system), `by` what paused it
    ("delivery": an attempt's account problem, "connection": a gateway's refused
    credentials, "operator"), the reason and how many messages wait.
    """
    reason = reasons.shorten(reason, 2000)
    with transaction.atomic():
        updated = Bot.objects.filter(pk=bot_id, paused_at__isnull=True).update(
            paused_at=now, paused_reason=reason
        )
        if not updated:
            return False
        bot = Bot.objects.get(pk=bot_id)
        waiting = sum(count for _receiver, count in bot_paused.send(sender=Bot, bot=bot))
        record_action(
            actor,
            "bot.pause_sending",
            bot=bot,
            target=bot,
            summary=f"Paused sending ({by}): {reason}; {waiting} messages waiting.",
            details={"by": by, "reason": reasons.as_json(reason), "waiting": waiting},
        )
    logger.warning("Bot %s paused: %s", bot_id, reason)
    return True


def resume_bot(bot: Bot, actor) -> int:
    """Clear a bot's pause and wake its waiting messages; returns how many wait."""
    now = timezone.now()
    with transaction.atomic():
        changed = Bot.objects.filter(pk=bot.pk, paused_at__isnull=False).update(
            paused_at=None, paused_reason="", updated_at=now
        )
        if not changed:
            return 0
        record_action(
            actor,
            "bot.resume_sending",
            bot=bot,
            target=bot,
            summary=f"Resumed sending (paused because: {bot.paused_reason}).",
            details={
                "paused_at": bot.paused_at.isoformat() if bot.paused_at else None,
                "reason": reasons.as_json(bot.paused_reason),
            },
        )
        # Within the transaction: the pause is cleared with its messages woken, or not at all.
        woken = bot_resumed.send(sender=Bot, bot=bot, now=now)
    return sum(count for _receiver, count in woken)
