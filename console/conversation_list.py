"""A bot's conversations, newest message first (either direction), with that message."""

import time

from django.db.models import Exists, F, Max, OuterRef, Subquery

from botadmin.cache import best_effort
from conversations.models import Bot, Conversation
from conversations.services import bots_visible_to, named
from messaging.models import TIMELINE_KEY, Message

from .senders import name_senders

# The newest message of each conversation is read in full (one probe of
# msg_timeline_idx per conversation of the bot) once per this many seconds at most...
NEWEST_RECOUNT_SECONDS = 300
# ...or when more ids than this were handed out since; else only the messages since.
NEWEST_GAP = 5_000
# Ids are handed out at insert, so a slow transaction may commit a message below the
# newest id a view saw: each view reads this many ids below it again.
NEWEST_LATE_COMMITS = 1_000
# Conversations with messages looked up per query (ids of `newest_message_ids`).
WRITTEN_BATCH = 1_000


def _newest_in_full(bot: Bot) -> dict[int, int]:
    """Each conversation's last message in its timeline, what its history shows last: one
    descent of msg_timeline_idx per conversation. (Ordered by id, PostgreSQL may walk the
    primary key back instead, estimating from the few conversations that have messages: a
    contact who never wrote then costs a read of every message.)"""
    newest = (
        Message.objects.filter(conversation=OuterRef("pk"))
        .order_by(TIMELINE_KEY.desc())
        .values("id")[:1]
    )
    rows = Conversation.objects.filter(bot=bot).order_by().annotate(newest=Subquery(newest))
    return {pk: message_id for pk, message_id in rows.values_list("pk", "newest") if message_id}


def newest_message_ids(bot: Bot) -> dict[int, int]:
    """{conversation pk: id of its newest message} for the bot's conversations with one.

    Kept in the shared cache with the bot's newest message id at the time; a view
    then reads only the messages above it (a short range of msg_bot_idx), so the
    list costs the same at any number of messages. Read in full again after
    NEWEST_RECOUNT_SECONDS (a deleted newest message shows as none until then)."""
    top = Message.objects.filter(bot=bot).order_by("-id").values_list("id", flat=True).first()
    if top is None:
        return {}
    # The bot's creation time too: a test database hands out a deleted bot's id again.
    key = f"console:newest-messages:{bot.pk}:{bot.created_at.timestamp()}"
    kept = best_effort.get(key)
    now = time.time()
    if kept is not None:
        counted_at, seen, newest = kept
        if now - counted_at < NEWEST_RECOUNT_SECONDS and top - seen <= NEWEST_GAP:
            since = (
                Message.objects.filter(bot=bot, id__gt=seen - NEWEST_LATE_COMMITS)
                .values("conversation")
                .annotate(newest=Max("id"))
                .values_list("conversation", "newest")
                .order_by()
            )
            changed = top != seen
            for conversation, message_id in since:
                if message_id > newest.get(conversation, 0):
                    newest[conversation], changed = message_id, True
            if changed:
                seconds = max(1, int(counted_at + NEWEST_RECOUNT_SECONDS - now))
                best_effort.set(key, (counted_at, top, newest), seconds)
            return newest
    newest = _newest_in_full(bot)
    best_effort.set(key, (now, top, newest), NEWEST_RECOUNT_SECONDS)
    return newest


class ConversationsByActivity:
    """(pk, id of its newest message or None) of the bot's conversations of `kind`
    (whose name contains `name`, or whose ID it is), newest message first, then by name in
    natural order (botadmin.natural_order); those without messages last. A sequence the
    Paginator slices.

    Those with messages (the contacts who wrote, from `newest_message_ids`: no probe per
    conversation) are sorted here; those without, most of a bot with 20,000 synced users,
    are a page of the database's (name_sort_key, id) order, so a page costs the same at
    any number of contacts."""

    def __init__(self, bot: Bot, kind: str, name: str = "") -> None:
        self.queryset = named(Conversation.objects.filter(bot=bot, kind=kind), name)
        newest = newest_message_ids(bot)
        written = Exists(Message.objects.filter(conversation=OuterRef("pk")))
        # Only those with a message still: a newest message deleted since the cache was
        # filled leaves the conversation to the ones without, in one place of the two.
        rows = []
        ids = list(newest)
        for start in range(0, len(ids), WRITTEN_BATCH):
            chunk = self.queryset.filter(written, pk__in=ids[start : start + WRITTEN_BATCH])
            rows += chunk.order_by().values_list("pk", "name_sort_key")
        rows.sort(key=lambda row: (-newest[row[0]], row[1], row[0]))
        self.written = [(pk, newest[pk]) for pk, _key in rows]
        self.unwritten = self.queryset.filter(~written).order_by("name_sort_key", "pk")

    def count(self) -> int:
        return len(self.written) + self.unwritten.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, part: slice) -> list[tuple[int, int | None]]:
        start, stop = part.start or 0, part.stop
        page = self.written[start:stop]
        if stop is None or stop > len(self.written):
            after = max(0, start - len(self.written))
            upto = None if stop is None else stop - len(self.written)
            unwritten = self.unwritten.values_list("pk", flat=True)[after:upto]
            page += [(pk, None) for pk in unwritten]
        return page


def conversations_of_page(rows: list[tuple[int, int | None]]) -> list[Conversation]:
    """The conversations of one page of `ConversationsByActivity`, in its order,
    each with its `newest_message_id`."""
    found = Conversation.objects.in_bulk([pk for pk, _newest in rows])
    page = []
    for pk, newest in rows:
        if conversation := found.get(pk):
            conversation.newest_message_id = newest
            page.append(conversation)
    return page


def attach_newest_messages(conversations: list[Conversation]) -> None:
    """Give each conversation of one page its `newest_message` (either direction), its
    sender named (console/senders.py), in a single query or two."""
    ids = [c.newest_message_id for c in conversations if c.newest_message_id]
    messages = Message.objects.only(
        "id",
        "bot_id",
        "direction",
        "msgtype",
        "search_text",
        "sender_id",
        "sender_name",
        "created_at",
        "status",
    ).in_bulk(ids)
    name_senders(messages.values())  # one more query when a sender came without a name
    for conversation in conversations:
        conversation.newest_message = messages.get(conversation.newest_message_id)


def most_recently_active_bot(user) -> Bot | None:
    """The bot, among those `user` sees, with the newest message (either direction; one
    descent of msg_bot_log_idx each); a bot without any comes after, by name. (Ordered by
    id, PostgreSQL may walk the primary key back instead, estimating each bot's probe from
    the bots that have messages: a bot without any then costs a read of every message.)"""
    newest = (
        Message.objects.filter(bot=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
    )
    return (
        bots_visible_to(user)
        .annotate(newest_message_at=Subquery(newest))
        .order_by(F("newest_message_at").desc(nulls_last=True), "name")
        .first()
    )
