"""Long connections held for bots by a gateway process: the lease and what operators see.

A connector whose channel is a long connection (WeCom's AI bot) is served by
one gateway process per bot at a time. The `BotConnection` row is the lease:

* `claim` takes it when nobody holds it or the holder's lease expired (a
  crashed or partitioned gateway); a live lease is never taken;
* the holder `renew`s it with its heartbeat and `release`s it when it stops;
* after WeCom said another client took the connection over, `taken_over`
  records when; no gateway claims the bot again until an operator asks for
  a `reconnect` (two clients reconnecting in turn would kick each other forever).

Every update made by a holder is conditional on still holding the lease, so
a gateway that lost it (paused for longer than the lease) changes nothing.

Every change of `state` moves `state_changed_at` and adds one to `state_changes`, and each
connection recorded "connected" adds one to `connections_made`, in the same update: /metrics
says since when a bot's shown state holds, how often the state changed and how many
connections were made (`active_bot_states`), so an alert can tell a bot down for ten minutes
by the time, and a connection that keeps changing between two scrapes, whether or not it
ever reaches "connected", by the changes' rate (docs/monitoring.md, "AI bot connections").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.reasons import Reason

from .models import Bot, BotConnection
from .pauses import pause_bot

State = BotConnection.State


def _state(state: str, now: datetime) -> dict:
    """The fields of an update setting the state: its time of change moves, and its count of
    changes grows, only when the state does (a condition on the row's old value, in the same
    statement)."""
    unchanged = Q(state=state)
    return {
        "state": state,
        "state_changed_at": Case(When(unchanged, then=F("state_changed_at")), default=Value(now)),
        "state_changes": Case(
            When(unchanged, then=F("state_changes")), default=F("state_changes") + 1
        ),
    }


def _row(bot_id: int) -> None:
    if not BotConnection.objects.filter(pk=bot_id).exists():
        try:
            with transaction.atomic():
                BotConnection.objects.create(bot_id=bot_id)
        except IntegrityError:
            pass  # another gateway created it meanwhile


def claim(
    bot_id: int,
    holder: str,
    lease_seconds: float,
    endpoint: str = "",
    token: str = "",
    now: datetime | None = None,
) -> bool:
    """Take the bot's lease when it is free, expired or already ours; False otherwise, and
    while someone must act first: the connection was taken over, or WeCom refused the
    credentials and the bot is still paused for it (a gateway that read the bot before the
    pause must not subscribe with them again)."""
    now = now or timezone.now()
    _row(bot_id)
    free = Q(holder="") | Q(holder=holder) | Q(lease_expires_at__isnull=True)
    free |= Q(lease_expires_at__lt=now)
    refused = Q(state=State.REFUSED, bot__paused_at__isnull=False)
    claimable = BotConnection.objects.filter(free, pk=bot_id, taken_over_at__isnull=True)
    taken = claimable.exclude(refused).update(
        holder=holder,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        endpoint=endpoint,
        endpoint_token=token,
        updated_at=now,
        **_state(State.CONNECTING, now),
    )
    return bool(taken)


def renew(bot_id: int, holder: str, lease_seconds: float, now: datetime | None = None) -> bool:
    """Extend our lease; False when it is no longer ours (stop using the bot at once)."""
    now = now or timezone.now()
    return bool(
        BotConnection.objects.filter(pk=bot_id, holder=holder).update(
            lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now
        )
    )


def note(bot_id: int, holder: str, **fields) -> bool:
    """Record state, frames or errors for the bot, only while we hold its lease. A session
    records "connected" once for each connection WeCom took the subscription of: each such
    write counts one in `connections_made`."""
    now = fields.setdefault("updated_at", timezone.now())
    if "state" in fields:
        fields.update(_state(fields["state"], now))
        if fields["state"] == State.CONNECTED:
            fields["connections_made"] = F("connections_made") + 1
    return bool(BotConnection.objects.filter(pk=bot_id, holder=holder).update(**fields))


def release(bot_id: int, holder: str) -> None:
    """Give the lease up (stopping, or the bot's settings changed)."""
    now = timezone.now()
    BotConnection.objects.filter(pk=bot_id, holder=holder).exclude(
        state__in=[State.TAKEN_OVER, State.REFUSED]
    ).update(connected_since=None, **_state(State.IDLE, now))
    BotConnection.objects.filter(pk=bot_id, holder=holder).update(
        holder="", lease_expires_at=None, endpoint="", endpoint_token="", updated_at=now
    )


def _stop(bot_id: int, holder: str, state: str, error: str, now: datetime, **fields) -> None:
    """Give the lease up for a reason that keeps every gateway away until someone acts."""
    BotConnection.objects.filter(pk=bot_id, holder=holder).update(
        **_state(state, now),
        connected_since=None,
        last_error=reasons.shorten(error, 2000),
        last_error_at=now,
        holder="",
        lease_expires_at=None,
        endpoint="",
        endpoint_token="",
        updated_at=now,
        **fields,
    )


def taken_over(bot_id: int, holder: str, now: datetime | None = None) -> None:
    """Another client took WeCom's connection: stop, and wait for an operator's reconnect."""
    now = now or timezone.now()
    # Stored in English with its parameter, shown in the reader's language.
    taken = gettext_noop("Connection taken over by another client at %(at)s.")
    error = Reason(taken, at=timezone.localtime(now).strftime("%Y-%m-%d %H:%M:%S"))
    _stop(bot_id, holder, State.TAKEN_OVER, error, now, taken_over_at=now)


def refused(bot_id: int, holder: str, reason: str, now: datetime | None = None) -> None:
    """The credentials were refused: pause the bot with the reason and give the lease up.

    Resuming the bot (after correcting its settings) lets a gateway try again.
    """
    now = now or timezone.now()
    with transaction.atomic():
        pause_bot(bot_id, reason, now, by="connection")
        _stop(bot_id, holder, State.REFUSED, reason, now)


def reconnect(bot: Bot, actor=None) -> bool:
    """An operator's "reconnect" after a takeover: a gateway claims the bot again within a poll.

    False (and nothing changes) when the connection was not taken over.
    """
    from audit.services import record_action

    with transaction.atomic():  # with its audit entry, or not at all
        _row(bot.pk)
        now = timezone.now()
        changed = BotConnection.objects.filter(pk=bot.pk, taken_over_at__isnull=False).update(
            taken_over_at=None, updated_at=now, **_state(State.IDLE, now)
        )
        if changed:
            record_action(actor, "bot.reconnect", bot=bot, target=bot, summary="long connection")
    return bool(changed)


def live(bot: Bot, now: datetime | None = None) -> BotConnection | None:
    """The bot's connection while a gateway holds an unexpired lease on it, else None."""
    now = now or timezone.now()
    return (
        BotConnection.objects.filter(pk=bot.pk, lease_expires_at__gt=now).exclude(holder="").first()
    )


def status(bot: Bot, now: datetime | None = None) -> dict:
    """What the console and the dashboard show about a bot's long connection."""
    return _describe(BotConnection.objects.filter(pk=bot.pk).first(), now or timezone.now())


def statuses(bot_ids: list[int], now: datetime | None = None) -> dict[int, dict]:
    """`status` of several bots in one query (bots without a row are not connected)."""
    now = now or timezone.now()
    rows = BotConnection.objects.in_bulk(bot_ids)
    return {bot_id: _describe(rows.get(bot_id), now) for bot_id in bot_ids}


def shown_state(
    state: str | None, holder: str | None, lease_expires_at: datetime | None, now: datetime
) -> State:
    """The state operators are shown: the row's while a gateway holds an unexpired lease or
    someone must act first (taken over, refused), else "not connected" (no row yet, the
    lease given up, or its holder gone without a word)."""
    held = bool(holder) and lease_expires_at is not None and lease_expires_at > now
    if state is not None and (held or state in (State.TAKEN_OVER, State.REFUSED)):
        return State(state)
    return State.IDLE


def shown_since(
    state: str | None, shown: State, lease_expires_at: datetime | None, state_changed_at: datetime
) -> datetime:
    """Since when the shown state (`shown_state`) holds: the row's last change of state
    (for a bot without a row, what the caller passes: its creation), but for a bot shown
    "not connected" because its holder went without a word, the end of its lease."""
    if state is not None and shown != state and lease_expires_at is not None:
        return lease_expires_at  # what its holder wrote after that was never shown
    return state_changed_at


class ShownConnection(NamedTuple):
    """What /metrics says of an active bot's long connection."""

    bot: str
    connector: str
    state: State
    since: datetime  # when `state` began (the bot's creation, for one never claimed)
    connections_made: int
    state_changes: int


def active_bot_states(now: datetime | None = None) -> list[ShownConnection]:
    """The shown connection of every active bot whose connector holds a long connection, by
    name, in one query (for /metrics: botadmin/metrics.py)."""
    from connectors.registry import CONNECTORS

    now = now or timezone.now()
    kinds = [kind for kind, connector in CONNECTORS.items() if connector.long_connection]
    rows = (
        Bot.objects.filter(is_active=True, connector__in=kinds)
        .order_by("name")
        # One time column more, not two: reading a time is most of what this costs in Python.
        .annotate(changed=Coalesce("connection__state_changed_at", "created_at"))
        .values_list(
            "name",
            "connector",
            "connection__state",
            "connection__holder",
            "connection__lease_expires_at",
            "changed",
            "connection__connections_made",
            "connection__state_changes",
        )
    )
    shown = []
    for name, connector, state, holder, expires, changed, made, changes in rows:
        current = shown_state(state, holder, expires, now)
        since = shown_since(state, current, expires, changed)
        shown.append(ShownConnection(name, connector, current, since, made or 0, changes or 0))
    return shown


def describe(row: BotConnection | None, now: datetime | None = None) -> dict:
    """`status` of a connection row already read (None: the bot has none yet)."""
    return _describe(row, now or timezone.now())


def _describe(row: BotConnection | None, now: datetime) -> dict:
    if row is None:
        idle = State.IDLE
        return {"state": idle.value, "label": str(idle.label), "held": False, "since": None}
    held = bool(row.holder) and row.lease_expires_at is not None and row.lease_expires_at > now
    state = shown_state(row.state, row.holder, row.lease_expires_at, now)
    return {
        "state": state.value,
        "label": str(state.label),
        # Since when the shown state holds, as /metrics says it (`shown_since`).
        "since": shown_since(row.state, state, row.lease_expires_at, row.state_changed_at),
        "held": held,
        "holder": row.holder if held else "",
        "lease_expires_at": row.lease_expires_at if held else None,
        "connected_since": row.connected_since if held else None,
        "last_frame_at": row.last_frame_at,
        "last_error": row.shown_error,
        "last_error_at": row.last_error_at,
        "taken_over_at": row.taken_over_at,
        "can_reconnect": row.taken_over_at is not None,
    }
