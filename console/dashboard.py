"""The figures of the dashboard: traffic per day, delivery health, agent health."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from botadmin.cache import best_effort
from botadmin.partial_indexes import index_condition
from connectors.base import Outcome
from connectors.registry import CONNECTORS
from conversations import connections
from conversations.models import Bot, SyncRun
from conversations.sync_requests import can_sync, checks_entered
from forwarding.models import WebhookEndpoint
from messaging import queue_health
from messaging.media_retention import storage_used
from messaging.models import (
    FAILED_OR_UNCERTAIN,
    HELD,
    QUEUED_OR_SENDING,
    DeliveryAttempt,
    Message,
)

from .webhooks import endpoint_names

DAYS = 30
FORWARDING_GRACE = timedelta(minutes=1)
# Days before today are counted once per this many seconds.
EARLIER_DAYS_CACHE_SECONDS = 300
# Today's messages are counted in full once per this many seconds; newer ones live.
TODAY_RECOUNT_SECONDS = 60


@dataclass
class DayCount:
    day: object
    inbound: int = 0
    outbound: int = 0


@dataclass
class AgentHealth:
    bot: Bot
    last_contact: datetime | None
    last_sync: SyncRun | None  # the newest finished contact sync
    endpoints: list[WebhookEndpoint]  # the bot's webhook endpoints with their health
    # A long-connection bot's connection (conversations.connections.status), else None.
    connection: dict | None = None
    # What it keeps in the media archive (add_media_storage).
    media_files: int = 0
    media_bytes: int = 0

    @property
    def syncs_contacts(self) -> bool:
        """Whether its connector has a contact sync at all (lists or checks contacts)."""
        connector = CONNECTORS.get(self.bot.connector)
        return connector is None or connector.syncs_contacts()

    @property
    def nothing_to_sync_yet(self) -> bool:
        """Never synced, and a sync would do nothing: it checks the groups entered by hand
        (a group robot's keys) and none is (one query, for such bots only)."""
        return self.last_sync is None and checks_entered(self.bot) and not can_sync(self.bot)

    @property
    def receives_messages(self) -> bool:
        """Whether its connector hears of messages to forward (a group robot only posts)."""
        connector = CONNECTORS.get(self.bot.connector)
        return connector is None or connector.receives_messages

    @property
    def named_endpoints(self) -> list[tuple[str, WebhookEndpoint]]:
        """Each endpoint with what its line in the webhook cell calls it (endpoint_names)."""
        return list(zip(endpoint_names(self.endpoints), self.endpoints, strict=True))


def _local_midnight(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _day_rows(
    bots: list[int], start: datetime, end: datetime | None, *, id_up_to=None, id_above=None
) -> list[tuple]:
    """(day, direction, messages, sent, finished) per local day in [start, end), of
    the messages with ids up to `id_up_to` or above `id_above` if given."""
    queryset = Message.objects.filter(bot__in=bots, created_at__gte=start)
    if end is not None:
        queryset = queryset.filter(created_at__lt=end)
    if id_up_to is not None:
        queryset = queryset.filter(id__lte=id_up_to)
    if id_above is not None:
        queryset = queryset.filter(id__gt=id_above)
    rows = (
        queryset.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "direction")
        .annotate(
            n=Count("id"),
            sent=Count("id", filter=Q(status=Message.Status.SENT)),
            finished=Count(
                "id", filter=Q(status__in=[Message.Status.SENT, *Message.Status.UNDELIVERED])
            ),
        )
        .order_by()
    )
    return [(r["day"], r["direction"], r["n"], r["sent"], r["finished"]) for r in rows]


def _cache_key(kind: str, bots: list[int], *parts) -> str:
    return f"console:{kind}:" + hashlib.sha256(f"{parts}:{bots}".encode()).hexdigest()


def _earlier_days(bots: list[int], first, today) -> list[tuple]:
    """The finished days change little: counted once, then cached for a few minutes."""
    key = _cache_key("days", bots, first, today)
    rows = best_effort.get(key)
    if rows is None:
        rows = _day_rows(bots, _local_midnight(first), _local_midnight(today))
        best_effort.set(key, rows, EARLIER_DAYS_CACHE_SECONDS)
    return rows


def _today(bots: list[int], today) -> list[tuple]:
    """Today's rows: the messages up to some id counted once a minute at most (kept
    in the shared cache with that id), the ones above it counted on every view. A
    new message shows at once, whatever today's traffic, and costs the view one
    short range of the primary key; a status change of an already counted message
    (and a message whose transaction committed after a newer one was counted)
    shows with the next full count, within TODAY_RECOUNT_SECONDS."""
    start = _local_midnight(today)
    key = _cache_key("today", bots, today)
    counted = best_effort.get(key)
    if counted is None:
        newest = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
        counted = (newest, _day_rows(bots, start, None, id_up_to=newest))
        best_effort.set(key, counted, TODAY_RECOUNT_SECONDS)
    newest, rows = counted
    return rows + _day_rows(bots, start, None, id_above=newest)


def daily_stats(bots: QuerySet[Bot], days: int = DAYS) -> tuple[list[DayCount], dict]:
    """Messages in/out per local day (oldest first, zero days included) and the
    outbound success counts over the same days. Today's new messages count at once
    (`_today`)."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    counts = {first + timedelta(days=i): DayCount(first + timedelta(days=i)) for i in range(days)}
    totals = {"sent": 0, "finished": 0}
    ids = sorted(bots.values_list("pk", flat=True))
    rows = _earlier_days(ids, first, today) + _today(ids, today)
    for day, direction, n, sent, finished in rows:
        entry = counts.get(day)
        if entry is None:
            continue
        if direction == Message.Direction.IN:
            entry.inbound += n
        else:
            entry.outbound += n
            totals["sent"] += sent
            totals["finished"] += finished
    return list(counts.values()), totals


# The dashboard counts a queue or a failure streak up to this many ("999+" beyond):
# counting further would cost as much as the backlog is long.
COUNT_CAP = 999


def capped_count(messages: QuerySet[Message]) -> int:
    """How many messages, counted no further than COUNT_CAP + 1 (the `capped` template
    filter shows "999+"). Unordered, and selecting only the bot, so that PostgreSQL
    counts from the bot's index alone."""
    return messages.order_by().values("bot_id")[: COUNT_CAP + 1].count()


def delivery_health(bots: QuerySet[Bot], totals: dict) -> dict:
    """Success rate over the chart's days, and what is waiting or failing right now.

    Each count reads the bots' own partial index alone (msg_bot_in_delivery_idx,
    msg_bot_retrying_idx, msg_bot_held_idx, msg_bot_undelivered_at_idx,
    msg_bot_forward_pending_idx),
    the index's condition stated (`index_condition`, which SQLite needs),
    and the queue's counts stop at COUNT_CAP: the same few reads whether the history
    holds ten thousand messages or millions (tests/console/test_dashboard_plans.py)."""
    now = timezone.now()
    ids = list(bots.values_list("pk", flat=True))
    outbound = Message.objects.filter(bot__in=ids, direction=Message.Direction.OUT)
    waiting = outbound.filter(index_condition(QUEUED_OR_SENDING))
    # The messages that may be sent now, not those held on purpose: the same figure as
    # the metric and /readyz (messaging/queue_health.py).
    oldest = min(queue_health.overdue_since(ids, now).values(), default=None)
    # Those held on purpose the card names apart: how many and until when.
    by_cap = (
        queue_health.held_by_cap(now)
        .filter(bot__in=ids)
        .order_by()
        .values(at=F("due_since"))[: COUNT_CAP + 1]
        .aggregate(n=Count("*"), until=Min("at"))
    )
    # In whole seconds: the card's link (?since=, console.queries.filter_messages)
    # lists the messages from the very moment the count starts at.
    failed_since = (now - timedelta(hours=24)).replace(microsecond=0)
    failed_today = outbound.filter(
        index_condition(FAILED_OR_UNCERTAIN), created_at__gte=failed_since
    )
    # Inbound messages a worker should have handed to the webhooks by now (the
    # sweeper retries every 15 s): more than a few means no worker is running.
    unforwarded = Message.objects.filter(
        bot__in=ids, forward_pending=True, created_at__lt=now - FORWARDING_GRACE
    )
    return {
        "success_rate": (totals["sent"] / totals["finished"] * 100) if totals["finished"] else None,
        "finished": totals["finished"],
        "waiting": capped_count(waiting),
        # Queued, said as "waiting but not sending": asked as `status = 'queued'`,
        # PostgreSQL read the status index and every row's heap page instead of the
        # bot's (msg_bot_retrying_idx, whose condition this states).
        "retrying": capped_count(
            waiting.filter(attempt_count__gt=0).exclude(status=Message.Status.SENDING)
        ),
        # Of those, the ones not tried yet that wait until a time (their pace, a daily
        # cap's hold): held back on purpose, not stuck (msg_bot_held_idx).
        "held": capped_count(outbound.filter(index_condition(HELD), next_attempt_at__gt=now)),
        "failed_today": capped_count(failed_today),
        "failed_since": failed_since,
        "unforwarded": unforwarded.count(),
        "oldest_queued_at": oldest,
        "oldest_queued_age": (now - oldest) if oldest else None,
        # As long as /readyz's "queue" accepts (and the alert, by default).
        "overdue": oldest is not None
        and (now - oldest).total_seconds() > settings.BOTADMIN_READY_MAX_QUEUE_AGE,
        "held_by_cap": by_cap["n"],
        "held_by_cap_until": by_cap["until"],
        "held_by_pause": capped_count(queue_health.held_by_pause().filter(bot__in=ids)),
    }


def _with_contact_times(bots: QuerySet[Bot]) -> QuerySet[Bot]:
    """`bots` with `answered_at` (their newest answered send), `reported_at` (their newest
    inbound message) and `synced_ok_at` (their newest successful contact sync): the times
    they last reached their other side or heard from it (`_last_contact`)."""
    bot = OuterRef("pk")
    syncs = SyncRun.objects.filter(bot=bot).order_by("-requested_at", "-id")
    # The newest answered attempt of the bot's newest tried message that has one: a
    # walk back through msg_bot_attempted_at_idx that stops at the first such message.
    # (By attempt id it walked back past every other bot's attempts since; joined
    # and ordered by the attempt's message id, SQLite sorted all the bot's attempts;
    # by message id, PostgreSQL walked the whole message table back through the primary
    # key for each bot that never sent beside one that sent every message: note 27.)
    answered = DeliveryAttempt.objects.filter(outcome=Outcome.SENT)
    newest_answered_message = (
        Message.objects.filter(
            bot=OuterRef(bot),
            direction=Message.Direction.OUT,
            attempt_count__gt=0,
        )
        .filter(Exists(answered.filter(message=OuterRef("pk"))))
        .order_by("-created_at")
        .values("id")[:1]
    )
    return bots.annotate(
        answered_at=Subquery(
            answered.filter(message=Subquery(newest_answered_message))
            .order_by("-id")
            .values("started_at")[:1]
        ),
        # The bot's newest inbound message: one probe of msg_bot_inbound_at_idx.
        # (Through msg_bot_log_idx, a bot that only sends walked all its messages,
        # and with inbound messages nearly none PostgreSQL scanned the whole
        # message table for each bot instead: note 28.)
        reported_at=Subquery(
            Message.objects.filter(bot=bot, direction=Message.Direction.IN)
            .order_by("-created_at")
            .values("created_at")[:1]
        ),
        synced_ok_at=Subquery(
            syncs.filter(outcome=SyncRun.Outcome.SUCCEEDED).values("finished_at")[:1]
        ),
    )


def _last_contact(bot: Bot) -> datetime | None:
    """The newest of a bot read `_with_contact_times`."""
    contacts = [t for t in (bot.answered_at, bot.reported_at, bot.synced_ok_at) if t]
    return max(contacts) if contacts else None


def last_contact(bot: Bot) -> datetime | None:
    """When a bot last reached its other side successfully or was reported a message, as
    the dashboard says it (`agent_health`); one query. The bot page says it beside its
    connection test, so that "not tested yet" does not read as "never reached"."""
    return _last_contact(_with_contact_times(Bot.objects.filter(pk=bot.pk)).get())


def agent_health(bots: QuerySet[Bot]) -> list[AgentHealth]:
    """When each bot last reached its other side successfully (a message sent, a
    successful sync) or was reported a message, and its newest finished contact sync;
    paused bots first. A refused call (the 401 that paused a bot) is no contact.

    At most three queries however many bots: the bots with their times as subquery
    annotations (each one short index probe per bot), their newest finished
    syncs, and their webhook endpoints."""
    syncs = SyncRun.objects.filter(bot=OuterRef("pk")).order_by("-requested_at", "-id")
    bots = list(
        _with_contact_times(bots.order_by("name")).annotate(
            last_sync_id=Subquery(syncs.filter(finished_at__isnull=False).values("id")[:1]),
        )
    )
    ids = [bot.pk for bot in bots]
    last_syncs = SyncRun.objects.in_bulk([bot.last_sync_id for bot in bots if bot.last_sync_id])
    endpoints: dict[int, list[WebhookEndpoint]] = {bot_id: [] for bot_id in ids}
    for endpoint in WebhookEndpoint.objects.filter(bot_id__in=ids).order_by("-is_primary", "id"):
        endpoints[endpoint.bot_id].append(endpoint)
    long_connected = [b.pk for b in bots if CONNECTORS[b.connector].long_connection]
    links = connections.statuses(long_connected) if long_connected else {}
    result = []
    for bot in bots:
        result.append(
            AgentHealth(
                bot,
                _last_contact(bot),
                last_syncs.get(bot.last_sync_id),
                endpoints[bot.pk],
                links.get(bot.pk),
            )
        )
    # Paused bots first: what needs a fix is read before what works (a stable sort: by name).
    result.sort(key=lambda agent: agent.bot.paused_at is None)
    return result


# How much each bot keeps in the media archive changes slowly and takes a scan.
MEDIA_STORAGE_CACHE_SECONDS = 300


def add_media_storage(agents: list[AgentHealth]) -> None:
    """Set `media_files` and `media_bytes` on each bot's row (cached a few minutes)."""
    ids = sorted(a.bot.pk for a in agents)
    key = "console:media-storage:" + hashlib.sha256(str(ids).encode()).hexdigest()
    used = best_effort.get(key)
    if used is None:
        used = storage_used(ids)
        best_effort.set(key, used, MEDIA_STORAGE_CACHE_SECONDS)
    for agent in agents:
        agent.media_files, agent.media_bytes = used.get(agent.bot.pk, (0, 0))
