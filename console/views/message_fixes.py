from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import history
from ..deletion_state import refused_while_deleting
from ..login_required import login_required
from ..message_fixes import FIXES, WAITS_FOR_RESUME
from .next_page import posted_next_page
from .scoping import visible_conversation_or_404


@login_required
@require_POST
@refused_while_deleting
def fix_message(request, bot_id: int, pk: int, message_id: int, verb: str):
    """Retry, mark as sent or cancel one outbound message of the operator's bot
    (the trace's buttons, confirmed in the browser), then back where they were."""
    fix = FIXES.get(verb)
    if fix is None:
        raise Http404
    bot, conversation = visible_conversation_or_404(request.user, bot_id, pk)
    message = history.message_with_trace(conversation, message_id)
    if message is None:
        raise Http404
    if fix.run(message, request.user):
        messages.success(request, fix.done)
        if verb == "retry" and bot.paused_at is not None:
            messages.warning(request, WAITS_FOR_RESUME)
    else:
        message.refresh_from_db(fields=["status"])
        messages.warning(
            request,
            _("Nothing was done: the message is now “%(status)s”.")
            % {"status": message.get_status_display()},
        )
    trace = reverse("console:history", args=[bot.pk, conversation.pk]) + f"?at={message.pk}"
    return redirect(posted_next_page(request, trace))
