"""Finding messages for search and the audit log, and paging through them newest first;
finding announcements for their list; an announcement run's recipients, page by page.

On PostgreSQL the words match through the trigram index on
UPPER(search_text) (migration messaging 0002_search_text_trigram_index_postgresql),
which serves Django's `icontains`; SQLite scans, which is slower but gives the
same answer.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db.models import F, Q, QuerySet, Subquery
from django.utils import timezone

from announcements.models import Announcement, AnnouncementRun
from announcements.operator_actions import finished_but_still_sending
from botadmin.name_characters import holds_characters_of
from botadmin.partial_indexes import index_condition
from conversations.contact_names import contacts_named
from conversations.models import Bot, Conversation
from messaging import status_labels
from messaging.models import FAILED_OR_UNCERTAIN, NOT_SENT_OR_RECEIVED, Message

PAGE_SIZE = 50
BY_TIME = ("-created_at", "-id")
# The announcement list's status filter for the badge "sending": finished, not yet sent to all.
STILL_SENDING = "sending"
# The audit log's status filter for failed and uncertain messages together (the
# dashboard's "failed (24 h)" counts both).
UNDELIVERED = "undelivered"
# More conversations than this match a filter: ask the database with a subquery.
MANY_CONVERSATIONS = 100
# A search by sender walks this many ids below the page's top first, and when the sender
# is in there but not a page of them, at most SENDER_WALK_MOST more (`_below_by_sender`).
SENDER_WINDOW = 10_000
SENDER_WALK_MOST = 100_000
# A name part shorter than this has no trigram for msg_sender_trgm_idx.
TRIGRAM = 3


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _matching_conversations(bots: list[int], text: str):
    """Conversations by exact ID or part of their name: as a short list of ids, so
    PostgreSQL can read each one's messages newest first from msg_history_idx;
    as a subquery when many match (then most messages do, and the id order serves)."""
    conversations = Conversation.objects.filter(bot__in=bots).filter(
        Q(conversation_id=text) | Q(name__icontains=text)
    )
    ids = list(conversations.values_list("pk", flat=True)[: MANY_CONVERSATIONS + 1])
    return ids if len(ids) <= MANY_CONVERSATIONS else conversations.values("pk")


def _sent_by(bot_ids: list[int], sender: str) -> Q:
    """By the sender's ID or part of their name: the name a message came with, or for
    one that came without, its sender's synced contact's (as the console names them).
    A name part without a trigram (one or two characters) is also looked for among the
    characters of the named messages' names (msg_sender_chars_idx, on PostgreSQL), so
    that the older part of `_below_by_sender` reads an index, not the table."""
    named = Q(sender_name__icontains=sender)
    if len(sender) < TRIGRAM:
        named &= holds_characters_of("sender_name", sender, where=~Q(sender_name=""))
    sent_by = Q(sender_id=sender) | named
    for bot_id, user_ids in contacts_named(bot_ids, sender).items():
        sent_by |= Q(bot_id=bot_id, sender_id__in=user_ids, sender_name="")
    return sent_by


def searches_by_sender(data: dict) -> bool:
    """Whether the filter form's `data` filters by sender (`page_by_id`'s `by_sender`)."""
    return bool((data.get("sender") or "").strip())


def filter_messages(queryset: QuerySet[Message], bots: QuerySet[Bot], data: dict):
    """Apply the shared filter form's cleaned data to a message queryset.

    The bots go in as a list of ids: one bot becomes `bot_id = …`, which the
    bot's indexes serve in order, where a subquery would be joined."""
    bot = data.get("bot")
    bot_ids = [bot.pk] if bot else list(bots.values_list("pk", flat=True))
    queryset = queryset.filter(bot__in=bot_ids)
    for word in (data.get("q") or "").split():
        queryset = queryset.filter(search_text__icontains=word)
    if conversation := (data.get("conversation") or "").strip():
        queryset = queryset.filter(conversation__in=_matching_conversations(bot_ids, conversation))
    if sender := (data.get("sender") or "").strip():
        queryset = queryset.filter(_sent_by(bot_ids, sender))
    if data.get("status") == UNDELIVERED:
        queryset = queryset.filter(index_condition(FAILED_OR_UNCERTAIN))
    elif status := data.get("status"):
        queryset = queryset.filter(status=status)
        if status not in (Message.Status.SENT, Message.Status.RECEIVED):
            # Said as msg_status_other_idx's condition, which SQLite needs to read it.
            queryset = queryset.filter(index_condition(NOT_SENT_OR_RECEIVED))
    for name in ("direction", "msgtype", "source"):
        if value := data.get(name):
            queryset = queryset.filter(**{name: value})
    if start := data.get("date_from"):
        queryset = queryset.filter(created_at__gte=_start_of(start))
    if end := data.get("date_to"):
        queryset = queryset.filter(created_at__lt=_start_of(end + timedelta(days=1)))
    if since := data.get("since"):
        queryset = queryset.filter(created_at__gte=since)
    if start or end or since:
        # By time: the bot's time index (msg_bot_log_idx) reads a past day in
        # order. In id order PostgreSQL would walk back through every newer
        # message first, taking ids and dates for unrelated (seconds at 1 M).
        queryset = queryset.order_by(*BY_TIME)
    return queryset


@dataclass
class ResultPage:
    rows: list = field(default_factory=list)
    # The last row's id when older rows follow: the "older" link's `before`.
    next_before: int | None = None
    # The first row's id when newer rows precede (`page_by_id_both_ways` only): the
    # "newer" link's `after`.
    newer_after: int | None = None


def _cut(rows: list, size: int) -> ResultPage:
    """A page of the first `size` of `rows` (read one more, to know whether more follow)."""
    more = len(rows) > size
    rows = rows[:size]
    return ResultPage(rows, rows[-1].pk if more else None)


def _below(queryset: QuerySet, before: int | None, size: int) -> ResultPage:
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    return _cut(list(queryset.order_by("-id")[: size + 1]), size)


def _below_by_sender(queryset: QuerySet, before: int | None, size: int) -> ResultPage:
    """`_below` for messages filtered by sender (an ID or part of a name, an OR that no
    index orders). In id order alone PostgreSQL expects a sender's messages spread
    evenly and walks the primary key back from the top: for a sender whose messages
    are all old, through every newer message (67 ms at 205,000 messages, note 29); even
    `sender_id = …` alone, which msg_sender_idx serves in order, took that walk.

    So ranges of ids are walked first, each bounded: the newest SENDER_WINDOW (a sender
    who writes often fills the page there), then, if the sender is in there but less
    often than a page, as far again as that rate says the page needs, twice over
    (SENDER_WALK_MOST at most). The rest is read through the sender indexes
    (msg_sender_idx, the names' trigram index) and sorted: bounded and ordered by
    `id + 0`, which no index serves, so that neither a walk of the primary key nor a
    range of it is left to choose. What a page reads then grows with the sender's own
    messages, not with everyone's newer ones; a name part of one or two characters,
    which has no trigram, through msg_sender_chars_idx (`_sent_by`, note 31)."""
    found: list = []

    def walk(top: int, floor: int) -> list:
        rows = queryset.filter(id__lt=top, id__gte=floor).order_by("-id")
        return list(rows[: size + 1 - len(found)])

    top = before
    if top is None:
        newest = Message.objects.order_by("-id").values_list("id", flat=True).first()
        top = (newest or 0) + 1
    floor = top - SENDER_WINDOW
    found += walk(top, floor)
    if 0 < len(found) <= size:
        reach = min(2 * (size + 1 - len(found)) * SENDER_WINDOW // len(found), SENDER_WALK_MOST)
        found += walk(floor, floor - reach)
        floor -= reach
    if len(found) <= size:
        below = F("id") + 0
        older = queryset.alias(below=below).filter(below__lt=floor).order_by(below.desc())
        found += older[: size + 1 - len(found)]
    return _cut(found, size)


def page_by_id(
    queryset: QuerySet,
    before: int | None,
    bots: QuerySet[Bot],
    size: int = PAGE_SIZE,
    *,
    by_sender: bool = False,
) -> ResultPage:
    """Newest first, continuing below the row `before`: the same cost on every page
    (`by_sender`: filtered by sender, `_below_by_sender`).

    A queryset ordered by time (a date filter, see `filter_messages`) continues
    below that row's `created_at`, then its id. That row is one of `bots`' (the
    reader's): another bot's would cut the page at its time, telling when it was
    written; like an id no message has, it gives an empty page."""
    if queryset.query.order_by != BY_TIME:
        return (_below_by_sender if by_sender else _below)(queryset, before, size)
    if before is not None:
        anchor = Subquery(Message.objects.filter(pk=before, bot__in=bots).values("created_at")[:1])
        queryset = queryset.filter(created_at__lte=anchor).filter(
            Q(created_at__lt=anchor) | Q(id__lt=before)
        )
    return _cut(list(queryset[: size + 1]), size)


def page_by_id_both_ways(
    queryset: QuerySet, *, before: int | None = None, after: int | None = None, size: int
) -> ResultPage:
    """Newest first by id, with a way back: the page below the id `before`, or the one
    above `after` (shown newest first too). The caller has checked that a cursor is one
    of its rows' ids (an older row exists below `after`).

    Going newer up to the top gives the latest page, full: a short page of the few
    rows left above `after` would leave the newest page's links for a half-empty one."""
    if after is not None:
        rows = list(queryset.filter(id__gt=after).order_by("id")[: size + 1])
        if len(rows) > size:
            shown = rows[:size][::-1]
            return ResultPage(shown, next_before=shown[-1].pk, newer_after=shown[0].pk)
        before = None
    page = _below(queryset, before, size)
    if before is not None and page.rows:
        page.newer_after = page.rows[0].pk
    return page


@dataclass
class RecipientPage:
    rows: list
    # The last row's conversation id when more follow: the "next" link's `after`.
    next_after: int | None = None
    # The first row's conversation id when rows precede: the "previous" link's `before`.
    previous_before: int | None = None


def recipients_page(
    run: AnnouncementRun,
    *,
    after: int | None = None,
    before: int | None = None,
    size: int,
    statuses=None,
) -> RecipientPage:
    """A run's messages by their conversation's id, the order the fan-out made them in,
    read in order from the index of the one message per run and conversation: the first
    page, the one after the conversation `after`, or the one before `before` (the first
    page, full, when fewer precede it). The same cost on every page, where an OFFSET
    read and skipped every row above it (and sorting by name, every row of the run)."""
    # The bot too: a waiting message of a paused bot says so; and how many older messages
    # of its conversation a queued one waits behind. The conversations in a query of their
    # own: joined, PostgreSQL merged them in id order from the first one, reading 90,000
    # conversations for a page 90,000 recipients down.
    messages = status_labels.with_messages_ahead(
        Message.objects.filter(announcement_run=run)
        .select_related("bot")
        .prefetch_related("conversation")
    )
    if statuses:  # the recipient table's chips: only the messages in these states
        messages = messages.filter(status__in=statuses)
    if before is not None:
        rows = list(
            messages.filter(conversation_id__lt=before).order_by("-conversation_id")[: size + 1]
        )
        if len(rows) > size:
            shown = rows[:size][::-1]
            return RecipientPage(shown, shown[-1].conversation_id, shown[0].conversation_id)
        after = None
    if after is not None:
        messages = messages.filter(conversation_id__gt=after)
    rows = list(messages.order_by("conversation_id")[: size + 1])
    if not rows and after is not None:  # past the last one (or a made-up cursor)
        return recipients_page(run, size=size, statuses=statuses)
    page = RecipientPage(rows[:size])
    if len(rows) > size:
        page.next_after = page.rows[-1].conversation_id
    if after is not None and page.rows:
        page.previous_before = page.rows[0].conversation_id
    return page


def runs_page(announcement: Announcement, before: int | None, size: int) -> ResultPage:
    """The announcement's runs, newest first, continuing below the run `before` (one of
    its own; another id gives an empty page). By time, which is unique per announcement
    (read in order from the constraint's index); `next_before` is the last run's id.
    Without their lists of recipients (100,000 ids at 100,000 recipients): a run's page
    shows how many it planned (`recipient_total`)."""
    runs = announcement.runs.defer("recipient_ids").order_by("-scheduled_for")
    if before is not None:
        anchor = announcement.runs.filter(pk=before).values("scheduled_for")[:1]
        runs = runs.filter(scheduled_for__lt=Subquery(anchor))
    return _cut(list(runs[: size + 1]), size)


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


def filter_announcements(queryset: QuerySet[Announcement], data: dict) -> QuerySet[Announcement]:
    """Apply the announcement list's cleaned filters: the bot, each word in the title or
    in the message's words, and the status as its badge says it: a finished announcement
    still sending its last recipients is "sending", not "finished"."""
    if data.get("bot"):
        queryset = queryset.filter(bot=data["bot"])
    for word in (data.get("q") or "").split():
        queryset = queryset.filter(Q(title__icontains=word) | Q(search_text__icontains=word))
    status = data.get("status")
    if status == STILL_SENDING:
        queryset = queryset.filter(finished_but_still_sending())
    elif status == Announcement.Status.FINISHED:
        queryset = queryset.filter(status=status).exclude(finished_but_still_sending())
    elif status:
        queryset = queryset.filter(status=status)
    return queryset
