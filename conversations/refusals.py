"""Whether the other side refuses the bot's credentials (a bridge agent answering 401 or
403 to botadmin's token), as the latest call to it showed.

An operator who typed a wrong token must not read "Running" until a send fails: every call
that answers says so (the connection test, the contact sync and the fetch of a received
picture or file call `noted`, a sent message clears it), and the bot's pages show the refusal, with what to check, instead of its state
(`refusal`). Kept in `Bot.connector_state` under REFUSED, beside what the other side said
about itself: a successful `services.refresh_connector_state` replaces the whole state, so it
clears the refusal too. A refusal is the other side's word on the credentials it was shown:
changing them (a new agent token typed) drops it (`forget`).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from botadmin import reasons

from .models import Bot

REFUSED = "refused"


def refusal(bot: Bot) -> dict | None:
    """The refusal the bot's latest call met: its `reason` (what to check) and since when
    calls have met one (`at`); None when the latest call was accepted (or there was none)."""
    state = bot.connector_state if isinstance(bot.connector_state, dict) else {}
    kept = state.get(REFUSED)
    if not isinstance(kept, dict):
        return None
    at = parse_datetime(kept["at"]) if isinstance(kept.get("at"), str) else None
    return {"reason": reasons.from_json(kept.get("reason")), "at": at}


def noted(bot: Bot, account_problem: str, now: datetime | None = None) -> None:
    """Record what a call met: `account_problem` (a refusal, worded for the operator), or ""
    for a call that was accepted (clears an earlier refusal). No write when nothing changes."""
    if not account_problem and refusal(bot) is None:
        return
    with transaction.atomic():
        # Locked: another call may be recording what it learned meanwhile.
        state = Bot.objects.select_for_update().values_list("connector_state", flat=True)
        state = state.filter(pk=bot.pk).first()
        state = dict(state) if isinstance(state, dict) else {}
        if account_problem:
            # Since the first of refusals in a row: the time its pages say it holds since.
            kept = state.get(REFUSED)
            at = kept.get("at") if isinstance(kept, dict) else None
            at = at or (now or timezone.now()).isoformat()
            shortened = reasons.shorten(account_problem, 500)
            state[REFUSED] = {"reason": reasons.as_json(shortened), "at": at}
        elif state.pop(REFUSED, None) is None:
            bot.connector_state = state
            return
        Bot.objects.filter(pk=bot.pk).update(connector_state=state)
    bot.connector_state = state


def forget(bot: Bot) -> None:
    """Drop the refusal the bot's calls met: its credentials changed (the connector settings,
    a new agent token typed) and the refusal was about the old ones, which the bot's pages
    would otherwise name until the next call. In the caller's transaction, the one saving
    the change, with `bot` read under its lock there (`noted` writes nothing when it holds
    no refusal)."""
    noted(bot, "")
