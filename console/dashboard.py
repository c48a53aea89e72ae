"""The figures of the dashboard: traffic per day, delivery health, agent health."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from conversations.models import Bot, Conversation
from messaging.models import DeliveryAttempt, Message

DAYS = 30
WAITING = [Message.Status.QUEUED, Message.Status.SENDING]
FINISHED_BADLY = [Message.Status.FAILED, Message.Status.UNCERTAIN]


@dataclass
class DayCount:
    day: object
    inbound: int = 0
    outbound: int = 0


@dataclass
class AgentHealth:
    bot: Bot
    last_contact: datetime | None
    last_sync: datetime | None


def daily_traffic(bots: QuerySet[Bot], days: int = DAYS) -> list[DayCount]:
    """Inbound and outbound messages per local day, oldest first, zero days included."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    counts = {first + timedelta(days=i): DayCount(first + timedelta(days=i)) for i in range(days)}
    rows = (
        Message.objects.filter(bot__in=bots, created_at__gte=start)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "direction")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        entry = counts.get(row["day"])
        if entry is None:
            continue
        if row["direction"] == Message.Direction.IN:
            entry.inbound = row["n"]
        else:
            entry.outbound = row["n"]
    return list(counts.values())


def delivery_health(bots: QuerySet[Bot], days: int = DAYS) -> dict:
    """Success rate over the period, and what is waiting or failing right now."""
    now = timezone.now()
    outbound = Message.objects.filter(bot__in=bots, direction=Message.Direction.OUT)
    finished = outbound.filter(
        created_at__gte=now - timedelta(days=days),
        status__in=[Message.Status.SENT, *FINISHED_BADLY],
    ).aggregate(
        sent=Count("id", filter=Q(status=Message.Status.SENT)),
        total=Count("id"),
    )
    pending = outbound.filter(status__in=WAITING).aggregate(
        waiting=Count("id"),
        retrying=Count("id", filter=Q(attempt_count__gt=0)),
        oldest=Min("created_at"),
    )
    failed_today = outbound.filter(
        status__in=FINISHED_BADLY, created_at__gte=now - timedelta(hours=24)
    ).count()
    return {
        "success_rate": (finished["sent"] / finished["total"] * 100) if finished["total"] else None,
        "finished": finished["total"],
        "waiting": pending["waiting"],
        "retrying": pending["retrying"],
        "failed_today": failed_today,
        "oldest_queued_age": (now - pending["oldest"]) if pending["oldest"] else None,
    }


def agent_health(bots: QuerySet[Bot]) -> list[AgentHealth]:
    """When each bot's agent last answered or reported, and when contacts were last synced."""
    bots = list(bots.order_by("name"))
    ids = [bot.pk for bot in bots]
    answered = dict(
        DeliveryAttempt.objects.filter(message__bot__in=ids, http_status__isnull=False)
        .values("message__bot")
        .annotate(at=Max("started_at"))
        .values_list("message__bot", "at")
    )
    reported = {
        bot_id: Message.objects.filter(bot_id=bot_id, direction=Message.Direction.IN)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
        for bot_id in ids
    }
    synced = dict(
        Conversation.objects.filter(bot__in=ids)
        .values("bot")
        .annotate(at=Max("last_synced_at"))
        .values_list("bot", "at")
    )
    result = []
    for bot in bots:
        contacts = [t for t in (answered.get(bot.pk), reported.get(bot.pk)) if t]
        result.append(AgentHealth(bot, max(contacts) if contacts else None, synced.get(bot.pk)))
    return result
