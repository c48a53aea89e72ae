"""What a page says about a bot whose sending is paused (conversations/pauses.py):
why, since when, how many messages wait, who may resume it, and whether a
connection test has passed since the pause (the moment to resume).
"""

from __future__ import annotations

from audit.models import OperatorAction
from conversations.models import Bot, BotConnection, SyncRun
from conversations.roles import bot_admins, may_resume_sending
from messaging.delivery_actions import waiting_for


def pause_context(user, bot: Bot, *, full: bool = True) -> dict:
    """For the pause banner (console/_paused_banner.html); nothing when the bot sends.

    `full`: also who may resume, whether only resuming lets the connection be made again
    (`connects_on_resume`) and the last connection test since the pause (the bot page);
    other pages show the reason and link there.
    """
    if bot.paused_at is None:
        return {}
    context = {"paused_bot": bot, "waiting_count": waiting_for(bot).count()}
    if not full:
        return context
    may_resume = may_resume_sending(user, bot)
    context["may_resume"] = may_resume
    if not may_resume:
        context["bot_admins"] = [admin.get_username() for admin in bot_admins(bot)]
    # A long connection refused for the credentials stays down until the bot resumes
    # (connections.claim): a connection test cannot pass before, so the banner says to
    # resume once the cause is fixed, not to test first.
    context["connects_on_resume"] = BotConnection.objects.filter(
        pk=bot.pk, state=BotConnection.State.REFUSED
    ).exists()
    last_test = (
        OperatorAction.objects.filter(
            bot=bot, action="bot.check_connection", created_at__gte=bot.paused_at
        )
        .order_by("-created_at", "-id")
        .values_list("details__ok", "created_at")
        .first()
    )
    # The cause may be fixed: offer to resume where the test was made.
    context["passed_test_at"] = last_test[1] if last_test and last_test[0] is True else None
    return context


def connection_trouble(bot: Bot) -> dict:
    """For compose: whether the bot's last connection test or last finished contact sync
    failed (what a message sent now would likely meet too). Two small queries."""
    last_test = (
        OperatorAction.objects.filter(bot=bot, action="bot.check_connection")
        .order_by("-created_at", "-id")
        .values_list("details__ok", "created_at")
        .first()
    )
    last_sync = (
        SyncRun.objects.filter(bot=bot)
        .exclude(outcome__in=SyncRun.ACTIVE_OUTCOMES)
        .order_by("-requested_at", "-id")
        .only("outcome", "error", "finished_at", "requested_at")
        .first()
    )
    return {
        "failed_test_at": last_test[1] if last_test and last_test[0] is False else None,
        "failed_sync": last_sync
        if last_sync and last_sync.outcome == SyncRun.Outcome.FAILED
        else None,
    }
