from django.http import Http404
from django.shortcuts import get_object_or_404

from botadmin.ids import id_or_none
from conversations.models import Bot
from conversations.services import bots_visible_to, visible_conversation


def visible_bot_or_404(user, bot_id: int) -> Bot:
    """Another operator's bot answers 404, exactly like one that does not exist."""
    return get_object_or_404(bots_visible_to(user), pk=bot_id)


def visible_conversation_or_404(user, bot_id: int, conversation_pk: int):
    """The conversation and its bot in one query; 404 unless the bot is the user's."""
    conversation = visible_conversation(user, bot_id, conversation_pk)
    if conversation is None:
        raise Http404
    return conversation.bot, conversation


def int_param(request, name: str) -> int | None:
    return id_or_none(request.GET[name]) if name in request.GET else None
