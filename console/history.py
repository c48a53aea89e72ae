"""A conversation's timeline, one keyset page at a time (never OFFSET).

Every page is one range scan of `msg_timeline_idx` (conversation, -key), where
a message's key (`TIMELINE_KEY`) is its id, or for a scheduled message the
position it took when it was released (messaging/timeline.py): it stands
where it was sent. Older pages continue below the smallest key shown, newer
pages above the largest, and a jump (to a message or a date) is a page
around one key. The cursors in the page's links are keys.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.db.models import QuerySet
from django.utils import timezone

from conversations.models import Conversation
from conversations.services import visible_conversation
from deletions import services as deletion_services
from forwarding.models import WebhookDelivery
from messaging.models import TIMELINE_KEY, DeliveryAttempt, Message, MessageMedia

PAGE_SIZE = 50
# What a bubble shows of a message (console/templates/console/history/_messages.html).
BUBBLE_FIELDS = [
    "id",
    "direction",
    "msgtype",
    "body",
    "sender_id",
    "sender_name",
    "status",
    "source",
    "attempt_count",
    "next_attempt_at",  # and the last error: a queued message says until when it waits, and why
    "last_error",
    "created_at",
    "updated_at",
    "scheduled_at",
    "sent_at",
    "timeline_position",
    "created_by__username",
    "created_by_label",
]


def _messages(conversation: Conversation) -> QuerySet[Message]:
    return (
        Message.objects.filter(conversation=conversation)
        .annotate(key=TIMELINE_KEY)
        .select_related("created_by")
        .only(*BUBBLE_FIELDS)
    )


@dataclass
class HistoryPage:
    """Messages oldest first, and whether more exist on either side."""

    messages: list[Message] = field(default_factory=list)
    has_older: bool = False
    has_newer: bool = False
    focus_id: int | None = None
    # A jump to a date without messages: the day asked for (the page shows the nearest).
    empty_day: date | None = None
    # A jump to a message this conversation does not have: its id (the page is the latest).
    missing_id: int | None = None

    @property
    def oldest_key(self) -> int | None:
        return self.messages[0].key if self.messages else None

    @property
    def newest_key(self) -> int | None:
        return self.messages[-1].key if self.messages else None


def _older(conversation, before_key: int | None, size: int) -> tuple[list[Message], bool]:
    rows = _messages(conversation)
    if before_key is not None:
        rows = rows.filter(key__lt=before_key)
    rows = list(rows.order_by("-key")[: size + 1])
    return rows[:size][::-1], len(rows) > size


def _newer(conversation, after_key: int, size: int) -> tuple[list[Message], bool]:
    rows = list(_messages(conversation).filter(key__gt=after_key).order_by("key")[: size + 1])
    return rows[:size], len(rows) > size


def visible_page(
    user, bot_id: int, pk: int, *, before: int | None = None, after: int | None = None
) -> tuple[Conversation, HistoryPage] | None:
    """The conversation (as `visible_conversation()` finds it) and its latest page,
    or the page before or after a key; None if `user` may not see it. Two queries (the
    first also learns whether the conversation or its bot is being deleted)."""
    conversation = visible_conversation(
        user, bot_id, pk, deletion_job_id=deletion_services.newest_job_subquery("bot_id", "pk")
    )
    if conversation is None:
        return None
    if after is not None:
        rows, more = _newer(conversation, after, PAGE_SIZE)
        return conversation, HistoryPage(rows, has_older=True, has_newer=more)
    rows, more = _older(conversation, before, PAGE_SIZE)
    return conversation, HistoryPage(rows, has_older=more, has_newer=before is not None)


def latest_page(conversation: Conversation, size: int = PAGE_SIZE) -> HistoryPage:
    messages, has_older = _older(conversation, None, size)
    return HistoryPage(messages, has_older=has_older)


def page_around(conversation: Conversation, message_id: int, size: int = PAGE_SIZE) -> HistoryPage:
    """A page with `message_id` in the middle (it is shown highlighted); the latest
    page with `missing_id` set when the conversation has no such message (deleted by
    the retention, another conversation's, or never there)."""
    key = (
        Message.objects.filter(conversation=conversation, pk=message_id)
        .annotate(key=TIMELINE_KEY)
        .values_list("key", flat=True)
        .first()
    )
    if key is None:
        page = latest_page(conversation, size)
        page.missing_id = message_id
        return page
    half = size // 2
    older, has_older = _older(conversation, key + 1, half + 1)
    newer, has_newer = _newer(conversation, key, size - len(older))
    return HistoryPage(older + newer, has_older, has_newer, focus_id=message_id)


def first_on_or_after(conversation: Conversation, day: date) -> tuple[int, int, datetime] | None:
    """The key, id and creation time of the first message of `day` (in the UI's time
    zone) or later, for "jump to date"."""
    start = timezone.make_aware(datetime.combine(day, time.min))
    return (
        Message.objects.filter(conversation=conversation, created_at__gte=start)
        .annotate(key=TIMELINE_KEY)
        .order_by("key")
        .values_list("key", "id", "created_at")
        .first()
    )


def page_at_date(conversation: Conversation, day: date, size: int = PAGE_SIZE) -> HistoryPage:
    """The page starting at the day's first message; for a day without messages, the
    next messages after it (or the newest), with `empty_day` saying so."""
    first = first_on_or_after(conversation, day)
    if first is None:
        # Nothing that late: the newest messages are the closest answer.
        page = latest_page(conversation, size)
        page.empty_day = day
        return page
    first_key, first_id, first_at = first
    messages, has_newer = _newer(conversation, first_key - 1, size)
    has_older = (
        Message.objects.filter(conversation=conversation)
        .alias(key=TIMELINE_KEY)
        .filter(key__lt=first_key)
        .exists()
    )
    empty_day = day if timezone.localdate(first_at) != day else None
    return HistoryPage(messages, has_older, has_newer, focus_id=first_id, empty_day=empty_day)


def day_of(conversation: Conversation, key: int) -> date | None:
    """The local day of the message at `key` in the timeline (None if there is none)."""
    # No ORDER BY (keys are unique): `.first()` would order by id, and the planner then
    # walks the primary key down from the newest message instead of reading the timeline
    # index (8 ms at 1,000,000 messages instead of a fraction of one).
    message = (
        Message.objects.filter(conversation=conversation)
        .alias(key=TIMELINE_KEY)
        .filter(key=key)
        .order_by()
        .only("created_at", "scheduled_at", "sent_at", "timeline_position")[:1]
    )
    message = message[0] if message else None
    return timezone.localdate(message.timeline_at) if message else None


def with_day_dividers(drawn: list, previous_day: date | None = None) -> list:
    """[(message, html, day)] where `day` is set on the first message of each local day:
    the timeline draws a divider there. `previous_day` is the day of the message shown
    just before these (a live update continues the day already on screen)."""
    rows = []
    for message, html in drawn:
        day = timezone.localdate(message.timeline_at)
        rows.append((message, html, day if day != previous_day else None))
        previous_day = day
    return rows


def message_with_trace(conversation: Conversation, message_id: int) -> Message | None:
    return Message.objects.filter(conversation=conversation, pk=message_id).first()


def pending_in(conversation: Conversation, ids: list[int]) -> list[Message]:
    """Messages of this conversation among `ids`, for refreshing their status in place."""
    ids = [int(i) for i in ids[:200]]
    if not ids:
        return []
    return list(_messages(conversation).filter(id__in=ids).order_by("id"))


def forwarding_deliveries(message: Message) -> list[WebhookDelivery]:
    """An inbound message's forwarding: one delivery per webhook endpoint, with its attempts."""
    return list(
        message.webhook_deliveries.select_related("endpoint")
        .prefetch_related("attempts")
        .order_by("endpoint__is_primary", "id")
    )


# Messages of these msgtypes never carry media: a page of them reads no media rows.
WITHOUT_MEDIA = frozenset({"text", "markdown", "markdown_v2", "link", "miniprogram", "news"})


def attach_media(messages: list[Message]) -> None:
    """Set `media_rows` (with their stored files) on each message: one query for a page."""
    wanted = [m.pk for m in messages if m.msgtype not in WITHOUT_MEDIA]
    rows: dict[int, list[MessageMedia]] = {}
    if wanted:
        for row in (
            MessageMedia.objects.filter(message_id__in=wanted)
            .select_related("stored_file")
            .order_by("pk")
        ):
            rows.setdefault(row.message_id, []).append(row)
    for m in messages:
        m.media_rows = rows.get(m.pk, [])
        # The open timeline polls it until the copy settled (data-pending).
        m.media_pending = any(r.status == MessageMedia.Status.PENDING for r in m.media_rows)


def media_of(conversation: Conversation, message_id: int, media_id: int) -> MessageMedia | None:
    """One media row of a message of this (already scoped) conversation."""
    return (
        MessageMedia.objects.filter(
            pk=media_id, message_id=message_id, message__conversation=conversation
        )
        .select_related("stored_file")
        .first()
    )


def delivery_attempts(message: Message) -> list[DeliveryAttempt]:
    return list(message.attempts.order_by("started_at", "id"))
