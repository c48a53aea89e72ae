"""A conversation's timeline, one keyset page at a time (never OFFSET).

Every page is one range scan of `msg_history_idx` (conversation, -id):
older pages continue below the smallest id shown, newer pages above the
largest, and a jump (to a message or a date) is a page around one id.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from botadmin.rows import ModelColumns, fast_timestamps
from conversations.models import Conversation
from conversations.services import visible_conversation, visible_conversation_with
from messaging.models import DeliveryAttempt, Message, WebhookDelivery

PAGE_SIZE = 50


class MessageStamp(NamedTuple):
    """What a page reads first of each message: where it goes (id, day) and every
    value that can change its bubble after it is stored. console/timeline.py keeps
    drawn bubbles under these values, and reads the whole message only for a bubble
    it has not drawn yet. A tuple: a page builds 50 and a frozen dataclass took
    twice as long."""

    pk: int
    created_at: datetime
    status: str
    attempt_count: int
    version: str  # updated_at as the database prints it: compared, never parsed
    created_by: str  # the operator's username for console messages, else ""


@dataclass(frozen=True, slots=True)
class TimelineMessage:
    """What a bubble shows of a message, read as plain values: building 50 model
    instances costs more than the indexed query itself. The trace (attempts,
    errors) loads when the operator opens a message."""

    pk: int
    direction: str
    msgtype: str
    body: object
    sender_id: str
    sender_name: str
    status: str
    source: str
    attempt_count: int
    created_at: datetime
    version: str
    created_by: str


# In each dataclass's order (all but version and created_by): each row becomes one by position.
_STAMP = ModelColumns(Message, "m", fields=["id", "created_at", "status", "attempt_count"])
_MESSAGE = ModelColumns(
    Message,
    "m",
    fields=[
        "id",
        "direction",
        "msgtype",
        "body",
        "sender_id",
        "sender_name",
        "status",
        "source",
        "attempt_count",
        "created_at",
    ],
)


def _timeline_sql(columns: ModelColumns, where: str, order: str, conversation: str = "%s") -> str:
    """A SELECT of one conversation's messages, written as SQL: it runs for every
    page and every poll of an open timeline, and the ORM took as long to build it
    as the database to answer it (see botadmin/rows.py). The operator's name is a
    subquery, not a join: PostgreSQL plans every execution (nothing is prepared),
    and planning the join cost more than running it."""
    user = get_user_model()
    quote = connection.ops.quote_name
    username = quote(user._meta.get_field(user.USERNAME_FIELD).column)
    user_pk = quote(user._meta.pk.column)
    updated_at = quote(Message._meta.get_field("updated_at").column)
    created_by = quote(Message._meta.get_field("created_by").column)
    return (
        f"SELECT {columns.select_list(connection)}, CAST(m.{updated_at} AS TEXT) AS version, "
        f"(SELECT u.{username} FROM {quote(user._meta.db_table)} u "
        f"WHERE u.{user_pk} = m.{created_by}) AS created_by "
        f"FROM {columns.table(connection)} "
        f"WHERE m.conversation_id = {conversation} {where} ORDER BY m.id {order}"
    )


def _read(columns, cls, conversation: Conversation, where: str, params: list, order: str, limit):
    sql = _timeline_sql(columns, where, order)
    if limit is not None:
        sql += " LIMIT %s"
        params = [*params, limit]
    with connection.cursor() as cursor:
        fast_timestamps(cursor)
        cursor.execute(sql, [conversation.pk, *params])
        rows = cursor.fetchall()
        db = cursor.db  # the connection itself, not the per-thread proxy: read per row
    return [
        cls(*columns.values(row[:-2], db), version=row[-2], created_by=row[-1] or "")
        for row in rows
    ]


def _stamps(conversation, where: str, params: list, order: str, limit=None) -> list[MessageStamp]:
    return _read(_STAMP, MessageStamp, conversation, where, params, order, limit)


def _in(ids: list[int]) -> str:
    return f"AND m.id IN ({', '.join(['%s'] * len(ids))})"


def messages_by_id(conversation: Conversation, ids: list[int]) -> dict[int, TimelineMessage]:
    """The whole messages behind some stamps, for the bubbles not drawn yet."""
    if not ids:
        return {}
    messages = _read(_MESSAGE, TimelineMessage, conversation, _in(ids), ids, "ASC", None)
    return {m.pk: m for m in messages}


@dataclass
class HistoryPage:
    """Messages oldest first, and whether more exist on either side."""

    messages: list[MessageStamp] = field(default_factory=list)
    has_older: bool = False
    has_newer: bool = False
    focus_id: int | None = None

    @property
    def oldest_id(self) -> int | None:
        return self.messages[0].pk if self.messages else None

    @property
    def newest_id(self) -> int | None:
        return self.messages[-1].pk if self.messages else None


def _older(conversation, before_id: int | None, size: int) -> tuple[list[MessageStamp], bool]:
    if before_id is None:
        rows = _stamps(conversation, "", [], "DESC", size + 1)
    else:
        rows = _stamps(conversation, "AND m.id < %s", [before_id], "DESC", size + 1)
    return list(reversed(rows[:size])), len(rows) > size


def _newer(conversation, after_id: int, size: int) -> tuple[list[MessageStamp], bool]:
    rows = _stamps(conversation, "AND m.id > %s", [after_id], "ASC", size + 1)
    return rows[:size], len(rows) > size


def visible_page(
    user, bot_id: int, pk: int, *, before: int | None = None, after: int | None = None
) -> tuple[Conversation, HistoryPage] | None:
    """The conversation (as `visible_conversation()` finds it) and its latest page,
    or the page before or after an id; None if `user` may not see it.

    On PostgreSQL the page's stamps come as one JSON column of the conversation's
    SELECT: one round trip instead of two for what an open timeline asks most
    (opening, scrolling up, polling). Elsewhere, two queries.
    """
    size = PAGE_SIZE
    if connection.vendor != "postgresql":
        conversation = visible_conversation(user, bot_id, pk)
        if conversation is None:
            return None
        if after is not None:
            rows, more = _newer(conversation, after, size)
            return conversation, HistoryPage(rows, has_older=True, has_newer=more)
        rows, more = _older(conversation, before, size)
        return conversation, HistoryPage(rows, has_older=more, has_newer=before is not None)
    if after is not None:
        where, params, order = "AND m.id > %s", [after], "ASC"
    elif before is not None:
        where, params, order = "AND m.id < %s", [before], "DESC"
    else:
        where, params, order = "", [], "DESC"
    found = visible_conversation_with(
        user, bot_id, pk, _stamps_json_sql(where, order), [*params, size + 1]
    )
    if found is None:
        return None
    conversation, stamps = found
    rows = sorted(map(_stamp_from_json, stamps or []), key=lambda s: s.pk, reverse=order == "DESC")
    more = len(rows) > size
    rows = rows[:size]
    if after is not None:
        return conversation, HistoryPage(rows, has_older=True, has_newer=more)
    return conversation, HistoryPage(rows[::-1], has_older=more, has_newer=before is not None)


def _stamps_json_sql(where: str, order: str) -> str:
    """`_stamps()` as one JSON array of [id, created_at, status, attempt_count,
    version, created_by] lists, for the conversation row `c`."""
    quote = connection.ops.quote_name
    values = ", ".join(f"page.{quote(field.column)}" for field in _STAMP.fields)
    return (
        f"(SELECT json_agg(json_build_array({values}, page.version, page.created_by)) "
        f"FROM ({_timeline_sql(_STAMP, where, order, conversation='c.id')} LIMIT %s) page)"
    )


def _stamp_from_json(values: list) -> MessageStamp:
    pk, created_at, status, attempt_count, version, created_by = values
    return MessageStamp(
        pk, datetime.fromisoformat(created_at), status, attempt_count, version, created_by or ""
    )


def latest_page(conversation: Conversation, size: int = PAGE_SIZE) -> HistoryPage:
    messages, has_older = _older(conversation, None, size)
    return HistoryPage(messages, has_older=has_older)


def page_around(conversation: Conversation, message_id: int, size: int = PAGE_SIZE) -> HistoryPage:
    """A page with `message_id` in the middle (it is shown highlighted)."""
    half = size // 2
    older, has_older = _older(conversation, message_id + 1, half + 1)
    newer, has_newer = _newer(conversation, message_id, size - len(older))
    return HistoryPage(older + newer, has_older, has_newer, focus_id=message_id)


def first_id_on_or_after(conversation: Conversation, day: date) -> int | None:
    """The first message of `day` (in the UI's time zone) or later, for "jump to date"."""
    start = timezone.make_aware(datetime.combine(day, time.min))
    return (
        Message.objects.filter(conversation=conversation, created_at__gte=start)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )


def page_at_date(conversation: Conversation, day: date, size: int = PAGE_SIZE) -> HistoryPage:
    first_id = first_id_on_or_after(conversation, day)
    if first_id is None:
        # Nothing that late: the newest messages are the closest answer.
        return latest_page(conversation, size)
    messages, has_newer = _newer(conversation, first_id - 1, size)
    has_older = Message.objects.filter(conversation=conversation, id__lt=first_id).exists()
    return HistoryPage(messages, has_older, has_newer, focus_id=first_id)


def message_with_trace(conversation: Conversation, message_id: int) -> Message | None:
    return Message.objects.filter(conversation=conversation, pk=message_id).first()


def pending_in(conversation: Conversation, ids: list[int]) -> list[MessageStamp]:
    """Messages of this conversation among `ids`, for refreshing their status in place."""
    ids = [int(i) for i in ids[:200]]
    if not ids:
        return []
    return _stamps(conversation, _in(ids), ids, "ASC")


def forwarding_deliveries(message: Message) -> list[WebhookDelivery]:
    """An inbound message's forwarding: one delivery per webhook endpoint, with its attempts."""
    return list(
        message.webhook_deliveries.select_related("endpoint")
        .prefetch_related("attempts")
        .order_by("endpoint__is_primary", "id")
    )


def delivery_attempts(message: Message) -> list[DeliveryAttempt]:
    return list(message.attempts.order_by("started_at", "id"))
