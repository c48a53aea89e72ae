"""Archived media in the console: the operator's own bots only (another bot's media is 404)."""

from django.http import Http404, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from audit.services import record_action
from messaging import media_fetch
from messaging.media_links import file_response
from messaging.models import Message, MessageMedia

from .. import bubbles, history
from ..deletion_state import refused_while_deleting
from ..login_required import login_required
from .scoping import visible_conversation_or_404


def _media_or_404(request, bot_id: int, pk: int, message_id: int, media_id: int):
    bot, conversation = visible_conversation_or_404(request.user, bot_id, pk)
    row = history.media_of(conversation, message_id, media_id)
    if row is None:
        raise Http404
    return bot, conversation, row


@login_required
@require_safe
def media_file(request, bot_id: int, pk: int, message_id: int, media_id: int, variant: str = ""):
    """The stored file (full size) or its thumbnail, for the timeline."""
    _bot, _conversation, row = _media_or_404(request, bot_id, pk, message_id, media_id)
    if row.status != MessageMedia.Status.STORED or row.stored_file is None:
        raise Http404
    return file_response(row, thumbnail=variant == "thumbnail")


@login_required
@require_POST
@refused_while_deleting
def fetch_again(request, bot_id: int, pk: int, message_id: int, media_id: int):
    """ "Fetch again" on a bubble whose media could not be fetched: the bubble, redrawn."""
    bot, conversation, row = _media_or_404(request, bot_id, pk, message_id, media_id)
    if media_fetch.fetch_again(row):
        record_action(
            request.user,
            "media.fetch_again",
            bot=bot,
            target=row.message,
            summary=f"Fetched the {row.kind} of message {row.message_id} again.",
            details={"media": row.pk, "message": row.message_id, "kind": row.kind},
        )
    base_url = reverse("console:history", args=[bot.pk, conversation.pk])
    message = history.pending_in(conversation, [message_id])
    drawn = bubbles.draw(
        message, bot=bot, base_url=base_url, pending_statuses=Message.Status.UNFINISHED
    )
    return HttpResponse("".join(html for _message, html in drawn))
