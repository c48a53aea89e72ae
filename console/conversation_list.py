"""A bot's conversations, newest message first (either direction), with that message."""

from django.db.models import F, OuterRef, QuerySet, Subquery

from conversations.models import Bot, Conversation
from conversations.services import bots_visible_to
from messaging.models import Message


def conversations_by_activity(bot: Bot, kind: str, name: str = "") -> QuerySet[Conversation]:
    """Sorted by the id of their newest message (one probe of msg_history_idx each)."""
    newest = Message.objects.filter(conversation=OuterRef("pk")).order_by("-id").values("id")[:1]
    queryset = Conversation.objects.filter(bot=bot, kind=kind).annotate(
        newest_message_id=Subquery(newest)
    )
    if name := name.strip():
        queryset = queryset.filter(name__icontains=name) | queryset.filter(conversation_id=name)
    return queryset.order_by(F("newest_message_id").desc(nulls_last=True), "name")


def attach_newest_messages(conversations: list[Conversation]) -> None:
    """Give each conversation of one page its `newest_message` (either direction) in a single query."""
    ids = [c.newest_message_id for c in conversations if c.newest_message_id]
    messages = Message.objects.only(
        "id", "direction", "msgtype", "search_text", "sender_name", "created_at", "status"
    ).in_bulk(ids)
    for conversation in conversations:
        conversation.newest_message = messages.get(conversation.newest_message_id)


def most_recently_active_bot(user) -> Bot | None:
    """The bot, among those `user` sees, with the newest message (either direction; one
    probe of msg_bot_idx each); a bot without any comes after, by name."""
    newest = Message.objects.filter(bot=OuterRef("pk")).order_by("-id").values("id")[:1]
    return (
        bots_visible_to(user)
        .annotate(newest_message_id=Subquery(newest))
        .order_by(F("newest_message_id").desc(nulls_last=True), "name")
        .first()
    )
