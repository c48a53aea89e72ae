"""What the API knows of a conversation's deletion (deletions/services.py runs it).

Asking to delete a conversation marks it (`mark_being_deleted`, in the transaction that
queues the job): from then on `/api/send` refuses it (7000106), `/api/users` and
`/api/groups` leave it out, and announcements neither offer it nor make a message for it
(`NOT_BEING_DELETED`), delivery cancels the messages still queued for it instead of sending
them (messaging/delivery_claim.py: it reads the mark with each claimed message), while the
job deletes its messages in batches and the row last. The job records the id it had (`record_deleted`, with that last delete), so a send
to it afterwards is told it was deleted rather than that the bot never had it.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from .active_counts import forget_active_counts
from .models import Bot, Conversation, DeletedConversation

# Read with the bot even when the rest of the conversation is not
# (`services.bot_for_secret`): /api/send refuses a conversation being deleted at no cost.
BEING_DELETED = Conversation._meta.get_field("deletion_requested_at")
# The conversations that may still be given a new message.
NOT_BEING_DELETED = Q(deletion_requested_at__isnull=True)


def mark_being_deleted(conversation: Conversation) -> None:
    """From now on nothing new is sent to the conversation; its first request's time stays."""
    now = timezone.now()
    Conversation.objects.filter(NOT_BEING_DELETED, pk=conversation.pk).update(
        deletion_requested_at=now, updated_at=now
    )
    conversation.deletion_requested_at = conversation.deletion_requested_at or now
    forget_active_counts(conversation.bot)  # the compose page counts it no more


def record_deleted(conversation: Conversation) -> None:
    """Keep the id of a conversation its deletion job is deleting now (same transaction)."""
    DeletedConversation.objects.update_or_create(
        bot_id=conversation.bot_id,
        conversation_id=conversation.conversation_id,
        defaults={"deleted_at": timezone.now()},
    )


def deleted_at(bot: Bot, conversation_id: str) -> datetime | None:
    """When the bot's conversation of this id was deleted, if one was (and none of that
    id has been stored again since: the caller looked for it first)."""
    return (
        DeletedConversation.objects.filter(bot=bot, conversation_id=conversation_id)
        .values_list("deleted_at", flat=True)
        .first()
    )


def deletion_started(conversation_pk: int) -> bool:
    """Whether the conversation is being deleted or is gone: asked again after a message
    to it was stored, as the deletion may have been asked for in between."""
    return not Conversation.objects.filter(NOT_BEING_DELETED, pk=conversation_pk).exists()
