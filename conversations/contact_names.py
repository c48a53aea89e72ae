"""The names of a bot's synced contacts by user ID.

A contact is the bot's one-to-one conversation with a user (`kind` user, the user's ID
as `conversation_id`), named by the contact sync. The console shows these names for
the users a message mentions by ID and for the sender of a received message that came
without a name (a callback that gave only `sender`): the message keeps what it was
given, the page asks here when it draws it.
"""

from django.db.models import Q

from botadmin.name_characters import holds_characters_of

from .models import Conversation

# IDs looked up at once at most: a page of 50 messages names far fewer.
MOST_LOOKED_UP = 500


def contact_names(user_ids_by_bot: dict[int, set[str]]) -> dict[tuple[int, str], str]:
    """{(bot id, user ID): name} of the named contacts among these. One query, none
    without IDs; the first MOST_LOOKED_UP IDs (in each bot's sorted order) are asked."""
    wanted, left = Q(), MOST_LOOKED_UP
    for bot_id, user_ids in sorted(user_ids_by_bot.items()):
        ids = sorted(i for i in user_ids if i)[:left]
        if ids:
            wanted |= Q(bot_id=bot_id, conversation_id__in=ids)
            left -= len(ids)
    if not wanted:
        return {}
    rows = (
        Conversation.objects.filter(wanted, kind=Conversation.Kind.USER)
        .exclude(name="")
        .values_list("bot_id", "conversation_id", "name")
    )
    return {(bot_id, user_id): name for bot_id, user_id, name in rows}


def contacts_named(bot_ids: list[int], text: str, most: int = 100) -> dict[int, list[str]]:
    """{bot id: user IDs} of these bots' contacts with `text` in their name, `most` of
    them at most: whom a search by sender name means among the messages that came
    without one. One query; on PostgreSQL it reads the contacts holding the characters
    of `text` (conv_contact_chars_idx), not every contact of the bots (note 31)."""
    rows = (
        Conversation.objects.filter(
            holds_characters_of("name", text),
            bot__in=bot_ids,
            kind=Conversation.Kind.USER,
            name__icontains=text,
        )
        .order_by("pk")
        .values_list("bot_id", "conversation_id")[:most]
    )
    ids_by_bot: dict[int, list[str]] = {}
    for bot_id, user_id in rows:
        ids_by_bot.setdefault(bot_id, []).append(user_id)
    return ids_by_bot
