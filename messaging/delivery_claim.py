"""Claiming due outbound messages: which are due, and the claim that takes them for a
worker (`sending` under a lease, with an open attempt row) while keeping the pace.

Part of the delivery engine: the protocol is described in messaging/delivery.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Min, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin.partial_indexes import index_condition
from botadmin.reasons import Reason
from connectors import conversions
from connectors.base import SendResult
from connectors.registry import connector_class

from . import delivery_pace
from .models import PENDING, UNCERTAIN, DeliveryAttempt, Message
from .outbox import CLAIM_BATCH, holder, lock_due, update_each

Clock = Callable[[], datetime]
# How many waiting messages past its batch a claim looks at before it reads every
# conversation's head (`_lock_due_messages`).
LOOK_AHEAD = 50


@dataclass
class Attempt:
    """A claimed message, its open attempt row, and (once sent) the connector's answer."""

    message: Message
    row: DeliveryAttempt
    result: SendResult | None = None
    converted: conversions.Converted | None = None
    duration_ms: int = 0
    status: str = ""  # the message's status after it (set by `outcome_changes`)


# The conditions of msg_pending_idx and msg_conversation_delivery_idx (PENDING), and of
# msg_conversation_uncertain_idx (messaging/models.py). In a subquery, their columns
# name the subquery's own table.
PENDING_STATUSES = index_condition(PENDING)
UNCERTAIN_STATUS = index_condition(UNCERTAIN)
# How many queued messages of conversations being deleted a claim cancels at most.
CANCEL_BATCH = 1000
# Why a message queued before its conversation's deletion was asked for was not sent.
CONVERSATION_BEING_DELETED = gettext_noop("not sent: its conversation is being deleted")
# Why an announcement's message was not sent: its conversation was switched off (a contact
# sync no longer saw it, or an operator) after the run took it among its recipients.
CONVERSATION_INACTIVE = gettext_noop(
    "not sent: its conversation was switched off after the run started "
    "(e.g. a contact sync no longer sees it)"
)


def waiting_messages(now: datetime):
    """Queued outbound messages whose time has come and whose bot may send: due
    unless an older message of their conversation is in their way (`due_messages`)."""
    return Message.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        PENDING_STATUSES,
        status=Message.Status.QUEUED,
        direction=Message.Direction.OUT,
        bot__is_active=True,
        bot__paused_at__isnull=True,
    )


def due_messages(now: datetime, among: list[int] | None = None):
    """Queued messages that may be claimed now (before pacing), oldest first.

    Only a conversation's head can be due: its oldest message in delivery
    (queued or sending), unless an uncertain message older than it is within
    its hold. Of every waiting message, the heads come from one pass over an
    index of (conversation, id): a bot whose agent was down for a day leaves a
    hundred thousand messages behind one head, and looking up each one's
    conversation for an older message cost a claim a lookup per message, or on
    PostgreSQL under FOR UPDATE a plan comparing every pair (bench/claim.py).
    `among`: only these messages, each checked on its own (a few index lookups).
    """
    in_delivery = Message.objects.filter(PENDING_STATUSES)
    if among is None:
        heads = Q(
            pk__in=in_delivery.values("conversation_id").annotate(head=Min("pk")).values("head")
        )
    else:
        head_of_its_conversation = in_delivery.filter(conversation_id=OuterRef("conversation_id"))
        heads = Q(
            pk__in=among, pk=Subquery(head_of_its_conversation.order_by("pk").values("pk")[:1])
        )
    return waiting_messages(now).filter(heads).exclude(held_by_uncertain(now)).order_by("pk")


def held_by_uncertain(now: datetime) -> Exists:
    """An uncertain message older than the outer query's message in its conversation holds
    it: from when it became uncertain (its `updated_at`: operators' decisions change its
    status), for DELIVERY_UNCERTAIN_HOLD."""
    hold = timedelta(seconds=settings.DELIVERY_UNCERTAIN_HOLD)
    return Exists(
        Message.objects.filter(
            UNCERTAIN_STATUS,
            conversation_id=OuterRef("conversation_id"),
            pk__lt=OuterRef("pk"),
            updated_at__gt=now - hold,
        )
    )


def in_the_way(now: datetime) -> Q:
    """The outer query's message is not its conversation's head, or an uncertain message
    holds it (`held_by_uncertain`): it is not due. One lookup a message, for a few of them;
    `due_messages` finds the heads of a whole queue at once."""
    older_in_delivery = Message.objects.filter(
        PENDING_STATUSES, conversation_id=OuterRef("conversation_id"), pk__lt=OuterRef("pk")
    )
    return Q(Exists(older_in_delivery)) | Q(held_by_uncertain(now))


class Claimed(list):
    """The claimed messages' attempts; `paced`: how many candidates got a wait instead;
    `cancelled`: the candidates whose conversation is being deleted, and `dropped`: how
    many queued messages were cancelled with them (`cancel_for_deletion`)."""

    paced: int = 0
    cancelled: tuple[int, ...] = ()
    dropped: int = 0


def claim_due_messages(
    clock: Clock = timezone.now, limit: int = CLAIM_BATCH, ids: list[int] | None = None
) -> Claimed:
    """Claim up to `limit` due messages (of `ids`, if given): each now `sending` under a
    lease, with its attempt row open. Messages over their pace get their wait instead."""
    now = clock()
    with transaction.atomic():
        # Locks the rows it returns (PostgreSQL skips rows another claim holds).
        candidates = _lock_due_messages(now, limit, ids)
        claimed = Claimed()
        # Read with the candidates (select_related): no query unless one is being deleted.
        doomed = [m for m in candidates if m.conversation.deletion_requested_at is not None]
        if doomed:
            claimed.cancelled = tuple(m.pk for m in doomed)
            claimed.dropped = cancel_for_deletion({m.conversation_id for m in doomed}, now)
            candidates = [m for m in candidates if m.pk not in claimed.cancelled]
        if gone := [m.pk for m in candidates if not_for_announcements(m.conversation, m)]:
            claimed.cancelled += tuple(gone)
            claimed.dropped += cancel_inactive(gone, now)
            candidates = [m for m in candidates if m.pk not in gone]
        going, waits = _pace(candidates, now)
        claimed.paced = len(waits)
        update_each(
            Message,
            ["next_attempt_at", "updated_at"],
            [(now + timedelta(seconds=wait), now, pk) for pk, wait in waits.items()],
        )
        if not going:
            return claimed
        lease, worker = now + timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT), holder()
        Message.objects.filter(pk__in=[m.pk for m in going]).update(
            status=Message.Status.SENDING,
            attempt_count=F("attempt_count") + 1,
            next_attempt_at=lease,
            updated_at=now,
        )
        rows = DeliveryAttempt.objects.bulk_create(
            DeliveryAttempt(message=message, started_at=now, worker=worker) for message in going
        )
    for message in going:
        message.status = Message.Status.SENDING
        message.attempt_count += 1
        message.next_attempt_at = lease
    claimed += [Attempt(message, row) for message, row in zip(going, rows, strict=True)]
    return claimed


def cancel_for_deletion(conversation_ids: set[int], now: datetime) -> int:
    """Cancel the queued messages of these conversations, whose deletion was asked for
    after they were queued (the API refuses new ones, conversations/deletion_marks.py):
    the deletion job deletes them soon, and until then they say why they were not sent.
    Up to CANCEL_BATCH of them at once, oldest first, their heads locked by the claim: none
    of them would go, so their order no longer matters, and a long queue costs a statement
    or two per CANCEL_BATCH, not a claim each. Returns how many."""
    queued = Message.objects.filter(
        PENDING_STATUSES,
        conversation_id__in=conversation_ids,
        status=Message.Status.QUEUED,
        direction=Message.Direction.OUT,
    )
    # Intent: take only rows no other transaction holds (PostgreSQL). The deletion job's
    # batch deletes them in its own order: waiting for one while holding the head could
    # deadlock with it. A row skipped stays queued, and the claim that finds it its
    # conversation's head cancels it.
    ids = list(
        queued.select_for_update(skip_locked=True, of=("self",))
        .order_by("pk")
        .values_list("pk", flat=True)[:CANCEL_BATCH]
    )
    return Message.objects.filter(pk__in=ids, status=Message.Status.QUEUED).update(
        status=Message.Status.CANCELLED,
        next_attempt_at=None,
        last_error=Reason(CONVERSATION_BEING_DELETED),
        updated_at=now,
    )


def not_for_announcements(conversation, message: Message) -> bool:
    """An announcement's message whose conversation is no longer active: a run fixes its
    recipients when it starts, and one switched off since is skipped, not sent. (A message
    sent to it through the API goes: its sender named that conversation.)"""
    return message.announcement_run_id is not None and not conversation.is_active


def cancel_inactive(ids: list[int], now: datetime) -> int:
    """Cancel these claimed candidates (locked by the claim), saying why: `not_for_announcements`."""
    return Message.objects.filter(pk__in=ids, status=Message.Status.QUEUED).update(
        status=Message.Status.CANCELLED,
        next_attempt_at=None,
        last_error=Reason(CONVERSATION_INACTIVE),
        updated_at=now,
    )


def _lock_due_messages(now: datetime, limit: int, ids: list[int] | None) -> list[Message]:
    """Lock up to `limit` due messages, oldest first.

    First among the oldest `limit + LOOK_AHEAD` waiting messages alone, each
    checked for an older message of its conversation: an announcement's
    messages are each their conversation's head, and this costs the same for
    ten thousand of them as for ten. Only when those are mostly stuck behind
    their conversation's head (a backlog) does the claim read every
    conversation's head (`due_messages`).
    """
    waiting = waiting_messages(now)
    if ids is not None:
        waiting = waiting.filter(pk__in=ids)
    oldest = list(waiting.order_by("pk").values_list("pk", flat=True)[: limit + LOOK_AHEAD])
    if not oldest:
        return []  # as every drain's last claim finds
    locked = lock_due(_with_relations(due_messages(now, among=oldest)), limit)
    if len(locked) == limit or len(oldest) < limit + LOOK_AHEAD:
        return locked  # the oldest due messages of all
    due = due_messages(now)
    if ids is not None:
        due = due.filter(pk__in=ids)
    return lock_due(_with_relations(due), limit)


def _with_relations(messages):
    return messages.select_related("bot", "conversation")


def _pace(candidates: list[Message], now: datetime) -> tuple[list[Message], dict[int, float]]:
    """Which candidates may leave now, and how long each of the others waits (seconds)."""
    stamp = now.timestamp()
    paces = {m.pk: _conversation_pace(m) for m in candidates}
    gaps = dict(paces.values())
    pace_waits = delivery_pace.conversation_waits(gaps, stamp)
    waits: dict[int, float] = {}
    by_bot: dict[int, list[Message]] = {}
    taken: set[str] = set()  # paces a message of this claim goes on
    for message in candidates:
        key, gap = paces[message.pk]
        wait = pace_waits.get(key, 0.0)
        if not wait and key in taken:
            wait = gap  # another conversation on the same pace (a robot key twice) goes first
        if wait > 0:
            waits[message.pk] = wait
        else:
            taken.add(key)
            by_bot.setdefault(message.bot_id, []).append(message)
    going: list[Message] = []
    for messages in by_bot.values():
        bot = messages[0].bot
        granted, wait = delivery_pace.take_bot_slots(
            bot.pk, bot.rate_limit_per_minute, stamp, len(messages)
        )
        going += messages[:granted]
        # Spread the waiting messages over the next slots instead of waking them all at once.
        width = delivery_pace.slot_width(bot.rate_limit_per_minute)
        for message in messages[granted:]:
            waits[message.pk] = wait + random.uniform(0, width)
    delivery_pace.note_conversation_sends(dict(paces[m.pk] for m in going), stamp)
    going.sort(key=lambda m: m.pk)
    return going, waits


def _conversation_pace(message: Message) -> tuple[str, float]:
    """The pace a message's conversation keeps (its connector's `pace_key`) and its gap."""
    connector = connector_class(message.bot.connector)
    connector_gap = connector.conversation_gap(message.conversation.kind)
    return connector.pace_key(message.conversation), delivery_pace.conversation_gap(connector_gap)


def next_due_time(now: datetime) -> datetime | None:
    """When the earliest message waiting for its time (backoff, pace) is due."""
    return Message.objects.filter(
        PENDING_STATUSES,
        status=Message.Status.QUEUED,
        next_attempt_at__gt=now,
        bot__is_active=True,
        bot__paused_at__isnull=True,
    ).aggregate(at=Min("next_attempt_at"))["at"]


def next_in_conversation(message: Message) -> int | None:
    """The conversation's oldest queued message: it may go once `message` is out of its way."""
    return (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            direction=Message.Direction.OUT,
            status=Message.Status.QUEUED,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
