from django.shortcuts import get_object_or_404

from conversations.models import Bot, Conversation
from conversations.services import bots_visible_to


def visible_bot_or_404(user, bot_id: int) -> Bot:
    """Another operator's bot answers 404, exactly like one that does not exist."""
    return get_object_or_404(bots_visible_to(user), pk=bot_id)


def visible_conversation_or_404(user, bot_id: int, conversation_pk: int):
    """The conversation and its bot in one query; 404 unless the bot is the user's."""
    conversation = get_object_or_404(
        Conversation.objects.select_related("bot").filter(bot__in=bots_visible_to(user)),
        bot_id=bot_id,
        pk=conversation_pk,
    )
    return conversation.bot, conversation


def int_param(request, name: str) -> int | None:
    try:
        return int(request.GET[name])
    except (KeyError, ValueError):
        return None
