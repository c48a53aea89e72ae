"""Resuming a paused bot's sending from its page, with a confirmation step.

Who may resume is decided in conversations/roles.py (whoever may fix the bot's
connector settings); conversations/pauses.resume_bot clears the pause, wakes the
waiting messages and records it in the audit log.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, ngettext

from conversations.pauses import resume_bot
from conversations.roles import may_resume_sending
from messaging.delivery_actions import waiting_for

from ..bot_pause import pause_context
from ..deletion_state import refused_while_deleting
from ..login_required import login_required
from .scoping import visible_bot_or_404


@login_required
@refused_while_deleting
def resume_sending(request, bot_id: int):
    """GET: what resuming does and a button; POST: resume (403 for who may not)."""
    bot = visible_bot_or_404(request.user, bot_id)
    if not may_resume_sending(request.user, bot):
        raise PermissionDenied
    page = reverse("console:bot", args=[bot.pk])
    if bot.paused_at is None:
        messages.info(request, gettext("This bot's sending is not paused."))
        return redirect(page)
    if request.method == "POST":
        waiting = waiting_for(bot).count()  # resume_bot counts only those it wakes at once
        resume_bot(bot, request.user)
        messages.success(request, _resumed_text(waiting))
        return redirect(page)
    return render(request, "console/bots/resume.html", pause_context(request.user, bot))


def _resumed_text(waiting: int) -> str:
    return ngettext(
        "Sending resumed: %(n)d waiting message goes out at the bot's pace.",
        "Sending resumed: %(n)d waiting messages go out at the bot's pace.",
        waiting,
    ) % {"n": waiting}
