"""The setup checklist of a bot page alone, for its live status (setup-checklist.js polls
it): the same include the page draws, for the same user."""

from __future__ import annotations

from django.shortcuts import render

from botadmin.timezones import zone_or_default
from conversations.roles import is_bot_admin

from ..connection_tests import last_connection_test
from ..login_required import login_required
from .scoping import visible_bot_or_404


@login_required
def setup_checklist(request, bot_id: int):
    bot = visible_bot_or_404(request.user, bot_id)
    context = {
        "bot": bot,
        "is_bot_admin": is_bot_admin(request.user, bot),
        "bot_zone": zone_or_default(bot.timezone),
        "last_test": last_connection_test(bot),
    }
    return render(request, "console/bots/_setup_checklist.html", context)
