"""How many active users and groups a bot has, kept in the shared cache.

The compose page shows these counts on every view, and counting a big bot's
conversations exactly reads every one of them: PostgreSQL scans all 50,000 rows
of a big bot for it, 10–20 ms (docs/performance.md). So the counts are kept in
Django's cache (shared by every web process) for KEEP_SECONDS at most, and each
write here that adds a conversation, changes its kind or turns it on or off
forgets them once it commits: a contact sync's pages (`sync.py`), a conversation
first seen in a message or no longer reachable (`activity.py`), a group chat
created, a conversation entered by hand or changed in the admin, one marked for
deletion (`deletion_marks.py`). KEEP_SECONDS bounds how long a count racing such a
write, or a change made around these writes (a row edited in the database), can be
shown. While the cache is down
every view counts (`botadmin.cache.best_effort`).
"""

from django.db import transaction
from django.db.models import Count

from botadmin.cache import best_effort

from .models import Bot, Conversation

KEEP_SECONDS = 60


def _key(bot: Bot) -> str:
    # The bot's creation time too: a test database hands out a deleted bot's id again.
    return f"conversations:active-counts:{bot.pk}:{bot.created_at.timestamp()}"


def active_counts(bot: Bot) -> dict[str, int]:
    """{kind: how many of the bot's conversations of that kind are active}, every kind;
    one being deleted is not (conversations/deletion_marks.py, which forgets these)."""
    key = _key(bot)
    counts = best_effort.get(key)
    if counts is None:
        active = Conversation.objects.filter(
            bot=bot, is_active=True, deletion_requested_at__isnull=True
        )
        # COUNT(*), not of the id: PostgreSQL then counts from conv_receiving_kind_idx alone.
        by_kind = dict(active.values_list("kind").annotate(n=Count("*")).order_by())
        counts = {kind: by_kind.get(kind, 0) for kind in Conversation.Kind.values}
        best_effort.set(key, counts, KEEP_SECONDS)
    return counts


def forget_active_counts(bot: Bot) -> None:
    """The bot's conversations changed: count them again once the change commits."""
    key = _key(bot)
    transaction.on_commit(lambda: best_effort.delete(key))
