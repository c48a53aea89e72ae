"""Deleting a conversation from the console: a confirmation naming what goes (its
messages, their attachments, attempts and webhook deliveries), then the job's progress
(views/deletion_jobs.py; deletions/services.py does the work, in the background).

Only the bot's bot admins (conversations/roles.py) may ask, as for deleting the bot: its
messages are half of the audit log. Its other operators see what would go and who may.
"""

from __future__ import annotations

from django.shortcuts import redirect, render

from conversations.roles import bot_admins, is_bot_admin
from deletions import services
from deletions.models import DeletionJob

from ..login_required import login_required
from .scoping import visible_conversation_or_404


@login_required
def conversation_delete(request, bot_id: int, pk: int):
    bot, conversation = visible_conversation_or_404(request.user, bot_id, pk)
    running = services.deletion_under_way(bot.pk, conversation.pk)
    if running is not None:
        return redirect("console:deletion", job_id=running.pk)
    may_delete = is_bot_admin(request.user, bot)
    if request.method == "POST" and may_delete:
        job, _created = services.request_conversation_deletion(
            conversation, request.user, via="console"
        )
        return redirect("console:deletion", job_id=job.pk)
    context = {
        "bot": bot,
        "conversation": conversation,
        "rows": services.what_goes(DeletionJob.Kind.CONVERSATION, conversation),
        "may_delete": may_delete,
    }
    if not may_delete:
        context["bot_admins"] = [admin.get_username() for admin in bot_admins(bot)]
    status = 403 if request.method == "POST" else 200
    return render(request, "console/deletions/confirm_conversation.html", context, status=status)
