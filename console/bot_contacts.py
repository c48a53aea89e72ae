"""The contacts section of a bot page: sync now, its live progress, and why a bot is empty."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from botadmin.reasons import translate
from connectors.registry import CONNECTORS
from conversations.bot_changes import request_sync_by
from conversations.models import Bot, SyncRun
from conversations.sync_requests import checks_entered, not_possible_reason

RECENT_RUNS = 5
# The latest runs read to find RECENT_RUNS worth showing: scheduled runs that changed
# nothing are folded into a count ("and 12 scheduled syncs without changes").
RUNS_READ = 50


def request_console_sync(user, bot: Bot) -> tuple[SyncRun, bool]:
    return request_sync_by(user, bot, SyncRun.Trigger.CONSOLE)


def sync_context(request, bot: Bot) -> dict:
    """The sync block: the last runs, whether one is active, and where to poll."""
    read = list(bot.sync_runs.select_related("requested_by")[:RUNS_READ])
    # The newest run always shows (that syncs happen); quiet ones after it are counted.
    shown = [run for n, run in enumerate(read) if n == 0 or not run.is_quiet][:RECENT_RUNS]
    last_shown = read.index(shown[-1]) if shown else -1
    quiet = sum(1 for run in read[: last_shown + 1] if run.is_quiet and run not in shown)
    why_not = not_possible_reason(bot)
    return {
        "runs": shown,
        "quiet_runs": quiet,
        "sync_active": any(run.is_active for run in shown),
        "sync_url": reverse("console:bot_sync", args=[bot.pk]),
        "sync_status_url": reverse("console:bot_sync_status", args=[bot.pk]),
        "empty_reason": empty_reason(bot),
        # A connector that can neither list nor check contacts, or a bot with nothing to
        # check yet: no "Sync now", say why.
        "can_sync": why_not is None,
        "not_possible_reason": translate(why_not or ""),
        # Its sync checks the groups entered by hand (robot keys): say so, and what it found.
        "checks_entered": checks_entered(bot),
    }


def empty_reason(bot: Bot) -> str:
    """Why a bot without conversations is empty, in words ("" when it has some)."""
    if bot.conversations.exists():
        return ""
    connector = CONNECTORS.get(bot.connector)
    last = bot.sync_runs.first()
    if connector is not None and connector.enters_contacts:
        return _(
            "This connector cannot list its groups: add each conversation by hand "
            "(for a group robot, with its webhook key)."
        )
    if connector is not None and not connector.lists_contacts:
        return _("This connector cannot list its conversations: they appear as messages arrive.")
    if last is None:
        return _("No contact sync has run yet: press “Sync now”.")
    if last.outcome == SyncRun.Outcome.FAILED:
        return _("The last contact sync failed: %(error)s") % {"error": translate(last.error)}
    if last.is_active:
        return _("A contact sync is running; conversations appear as it goes.")
    return _(
        "The last contact sync found no users or groups: check the agent's account, "
        "or wait for a message to arrive."
    )


def none_of_this_kind(bot: Bot) -> str:
    """Why a tab of the bot's conversation list is empty, by what its connector can do."""
    connector = CONNECTORS.get(bot.connector)
    if connector is not None and connector.lists_contacts:
        return _(
            "No conversations of this kind yet. They appear with the next contact sync "
            "or when a message arrives."
        )
    if connector is not None and connector.enters_contacts:
        return _(
            "No conversations of this kind yet. This connector cannot list them: a bot "
            "admin adds each one by hand on the bot's page."
        )
    return _("No conversations of this kind yet. They appear when a message arrives.")
