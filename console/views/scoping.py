from django.http import Http404
from django.shortcuts import get_object_or_404

from conversations.models import Bot, Conversation
from conversations.services import bots_visible_to


def visible_bot_or_404(user, bot_id: int) -> Bot:
    """Another operator's bot answers 404, exactly like one that does not exist."""
    return get_object_or_404(bots_visible_to(user), pk=bot_id)


def visible_conversation_or_404(user, bot_id: int, conversation_pk: int):
    """The conversation and its bot in one query; 404 unless the bot is the user's.

    The rule is bots_visible_to's (tests/console/test_access.py holds them equal),
    applied as a join on the bot's operators: as a `bot__in` subquery PostgreSQL
    spent longer planning this one-row lookup than running it, on every page.
    """
    if not (user.is_authenticated and user.is_active):
        raise Http404
    conversations = Conversation.objects.select_related("bot")
    if not user.is_superuser:
        conversations = conversations.filter(bot__operators=user)
    conversation = get_object_or_404(conversations, bot_id=bot_id, pk=conversation_pk)
    return conversation.bot, conversation


def int_param(request, name: str) -> int | None:
    try:
        return int(request.GET[name])
    except (KeyError, ValueError):
        return None
