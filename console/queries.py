"""Finding messages for search and the audit log, and paging through them by id.

On PostgreSQL the words match through the trigram index on
UPPER(search_text) (migration messaging 0002_search_text_trigram_index_postgresql),
which serves Django's `icontains`; SQLite scans, which is slower but gives the
same answer.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from conversations.models import Bot
from messaging.models import Message

PAGE_SIZE = 50


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filter_messages(queryset: QuerySet[Message], bots: QuerySet[Bot], data: dict):
    """Apply the shared filter form's cleaned data to a message queryset."""
    bot = data.get("bot")
    queryset = queryset.filter(bot=bot) if bot else queryset.filter(bot__in=bots)
    for word in (data.get("q") or "").split():
        queryset = queryset.filter(search_text__icontains=word)
    if conversation := (data.get("conversation") or "").strip():
        queryset = queryset.filter(
            Q(conversation__conversation_id=conversation)
            | Q(conversation__name__icontains=conversation)
        )
    if sender := (data.get("sender") or "").strip():
        queryset = queryset.filter(Q(sender_id=sender) | Q(sender_name__icontains=sender))
    for name in ("direction", "msgtype", "status", "source"):
        if value := data.get(name):
            queryset = queryset.filter(**{name: value})
    if start := data.get("date_from"):
        queryset = queryset.filter(created_at__gte=_start_of(start))
    if end := data.get("date_to"):
        queryset = queryset.filter(created_at__lt=_start_of(end + timedelta(days=1)))
    return queryset


@dataclass
class ResultPage:
    rows: list = field(default_factory=list)
    next_before: int | None = None


def page_by_id(queryset: QuerySet, before: int | None, size: int = PAGE_SIZE) -> ResultPage:
    """Newest first, continuing below `before`: the same cost on every page."""
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    rows = list(queryset.order_by("-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return ResultPage(rows, rows[-1].pk if more else None)


def search_results(bots, data: dict) -> QuerySet[Message]:
    return filter_messages(Message.objects.select_related("bot", "conversation"), bots, data).defer(
        "body"
    )


def audit_rows(bots, data: dict) -> QuerySet[Message]:
    return filter_messages(
        Message.objects.filter(direction=Message.Direction.OUT).select_related(
            "bot", "conversation", "created_by"
        ),
        bots,
        data,
    ).defer("body")
