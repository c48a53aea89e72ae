"""What a message tells about its conversation: that it exists, its kind and name, when it
last received a message, and whether the bot can still reach it.

Only the conversations app writes `Conversation` rows; messaging calls
`record_seen_in_message` when it stores an inbound message, inside the same
transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from .active_counts import forget_active_counts
from .models import Bot, Conversation
from .sort_keys import name_sort_key

# The last inbound time is kept to the second: a busy group does not rewrite its row for every message.
ACTIVITY_PRECISION = timedelta(seconds=1)
NAME_MAX_LENGTH = Conversation._meta.get_field("name").max_length


def record_seen_in_message(
    bot: Bot,
    conversation_id: str,
    *,
    at: datetime,
    kind: str = "",
    name: str = "",
    sender: str = "",
    known: Conversation | None = None,
) -> Conversation:
    """The conversation a message was seen in at `at`: created on first sight, its kind,
    name and last inbound time kept current.

    `known` is the conversation when the caller already read it (before its
    transaction, so that the write lock is held briefly); empty `kind` and `name`
    leave those as they are. A conversation first seen without its kind is a direct
    chat when its ID is the `sender`'s (a one-to-one chat goes by the other person's
    ID), else a group chat.
    """
    changes = {}
    if kind:
        changes["kind"] = kind
    if name:
        changes["name"] = name[:NAME_MAX_LENGTH]
    conversation = known
    if conversation is None:
        first_kind = kind or _kind_by_sender(conversation_id, sender)
        conversation, created = Conversation.objects.get_or_create(
            bot=bot,
            conversation_id=conversation_id,
            defaults={**changes, "kind": first_kind, "last_inbound_at": at},
        )
        if created:
            forget_active_counts(bot)
            return conversation
    changed = {key: value for key, value in changes.items() if getattr(conversation, key) != value}
    # Also a key not its name's: a host still on the release before the key added or
    # renamed it (a rolling upgrade), or an earlier definition of the key made it.
    key = name_sort_key(
        changed.get("name", conversation.name), changed.get("kind", conversation.kind)
    )
    if key != conversation.name_sort_key:
        changed["name_sort_key"] = key
    if "kind" in changed:
        forget_active_counts(bot)
    if (
        changed
        or not conversation.last_inbound_at
        or at - conversation.last_inbound_at >= ACTIVITY_PRECISION
    ):
        Conversation.objects.filter(pk=conversation.pk).update(
            **changed, last_inbound_at=at, updated_at=at
        )
    return conversation


def record_reachable(bot: Bot, conversation_id: str, *, reachable: bool) -> bool:
    """The other side says the bot can no longer reach this member (they left its range)
    or can again: the conversation inactive, as a contact sync leaves a member it no longer
    sees, or active. The next complete sync has the last word. True when it changed."""
    changed = (
        Conversation.objects.filter(bot=bot, conversation_id=conversation_id)
        .exclude(is_active=reachable)
        .update(is_active=reachable, updated_at=timezone.now())
    )
    if changed:
        forget_active_counts(bot)
    return bool(changed)


def _kind_by_sender(conversation_id: str, sender: str) -> str:
    if sender and sender == conversation_id:
        return Conversation.Kind.USER
    return Conversation.Kind.GROUP
