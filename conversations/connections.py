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
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import reasons
from botadmin.reasons import Reason

from .models import Bot, BotConnection
from .pauses import pause_bot

State = BotConnection.State


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
        state=State.CONNECTING,
        updated_at=now,
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
    """Record state, frames or errors for the bot, only while we hold its lease."""
    fields.setdefault("updated_at", timezone.now())
    return bool(BotConnection.objects.filter(pk=bot_id, holder=holder).update(**fields))


def release(bot_id: int, holder: str) -> None:
    """Give the lease up (stopping, or the bot's settings changed)."""
    BotConnection.objects.filter(pk=bot_id, holder=holder).exclude(
        state__in=[State.TAKEN_OVER, State.REFUSED]
    ).update(state=State.IDLE, connected_since=None)
    BotConnection.objects.filter(pk=bot_id, holder=holder).update(
        holder="", lease_expires_at=None, endpoint="", endpoint_token="", updated_at=timezone.now()
    )


def _stop(bot_id: int, holder: str, state: str, error: str, now: datetime, **fields) -> None:
    """Give the lease up for a reason that keeps every gateway away until someone acts."""
    BotConnection.objects.filter(pk=bot_id, holder=holder).update(
        state=state,
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
        changed = BotConnection.objects.filter(pk=bot.pk, taken_over_at__isnull=False).update(
            taken_over_at=None, state=State.IDLE, updated_at=timezone.now()
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


def active_bot_states(now: datetime | None = None) -> list[tuple[str, str, State]]:
    """(name, connector, shown state) of every active bot whose connector holds a long
    connection, by name, in one query (for /metrics: botadmin/metrics.py)."""
    from connectors.registry import CONNECTORS

    now = now or timezone.now()
    kinds = [kind for kind, connector in CONNECTORS.items() if connector.long_connection]
    rows = (
        Bot.objects.filter(is_active=True, connector__in=kinds)
        .order_by("name")
        .values_list(
            "name",
            "connector",
            "connection__state",
            "connection__holder",
            "connection__lease_expires_at",
        )
    )
    return [
        (name, connector, shown_state(state, holder, expires, now))
        for name, connector, state, holder, expires in rows
    ]


def _describe(row: BotConnection | None, now: datetime) -> dict:
    if row is None:
        return {"state": State.IDLE.value, "label": str(State.IDLE.label), "held": False}
    held = bool(row.holder) and row.lease_expires_at is not None and row.lease_expires_at > now
    state = shown_state(row.state, row.holder, row.lease_expires_at, now)
    return {
        "state": state.value,
        "label": str(state.label),
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
