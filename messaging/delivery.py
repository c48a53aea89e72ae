"""The delivery engine: claim due outbound messages, send each through its connector, record.

It follows the outbox protocol (messaging/outbox.py). `drain()` is what the
Celery task `messaging.deliver_messages` runs: it claims due messages in
batches (`claim_due_messages`) and sends them until none is due, so one
wake-up empties the queue; `sweep()` (messaging/sweeper.py) is what the
periodic sweeper runs. Both are safe to run any number of times, side by side:

* a message is due when it is `queued`, its `next_attempt_at` is empty or
  past, its bot is active and not paused, and no older message of its
  conversation blocks it: one still queued or sending (order per
  conversation), or one `uncertain` within its hold (`DELIVERY_UNCERTAIN_HOLD`,
  so an operator can decide before newer messages follow it). A blocked
  message needs no wake-up of its own: the claim after the one that finished
  the older message finds it;
* the claim also keeps the pace (messaging/delivery_pace.py): a message over
  its bot's rate or its conversation's gap waits (`next_attempt_at`), it
  never fails;
* while `sending`, `next_attempt_at` is the lease and the open attempt row
  the trace: past it, the sweeper takes the message back (a killed worker).
  A worker renews the leases of its batch's messages it has not sent yet as
  it goes (`keep_leases`), so a batch of slow sends is not taken back from
  it while it still sends;
* an operator's stop reaches a message a worker holds (`stop_requested`,
  delivery_actions.stop): read again before the batch's first call and then at
  least every RECHECK_SECONDS, it is not sent while it waits in the batch
  (`stopped_meanwhile`), and an attempt that does not deliver it is not retried
  (`stopped_changes`). Only a send already on the wire (or starting within
  RECHECK_SECONDS of the stop) goes out, and is recorded as what it did.

Every function takes a `clock` so tests can run minutes of pacing in simulated time.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Exists, F, Min, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import logging as botadmin_logging
from botadmin import metrics, reasons
from botadmin.partial_indexes import index_condition
from botadmin.reasons import Reason
from connectors import conversions
from connectors.base import Connector, Outcome, SendResult
from connectors.registry import connector_class, connector_for
from conversations.pauses import pause_bot

from . import card_task_ids, delivery_caps, delivery_pace, uploads
from .models import PENDING, UNCERTAIN, DeliveryAttempt, Message
from .outbox import (
    CLAIM_BATCH,
    RECORD_EVERY_SECONDS,
    delivery_schedule,
    holder,
    lock_due,
    renew_leases,
    retry_delay,
    update_each,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
RESPONSE_TEXT_LIMIT = 1024
# A woken worker drains for at most this long, then hands on to a fresh task.
DRAIN_SECONDS = 30
# A worker holding a batch reads at least this often whether the messages it has not
# sent yet were stopped meanwhile (`stopped_meanwhile`), and always before its first call.
RECHECK_SECONDS = RECORD_EVERY_SECONDS
# A worker renews the leases of the messages of its batch it has not sent yet once this
# much of them has gone (`keep_leases`): each send starts with nearly a whole
# DELIVERY_SENDING_TIMEOUT before it, as a batch's first does, however slow the sends
# before it were.
RENEW_AFTER_SECONDS = 10
# How many waiting messages past its batch a claim looks at before it reads every
# conversation's head (`_lock_due_messages`).
LOOK_AHEAD = 50


@dataclass
class Step:
    """What one `deliver` call did: sent / failed / uncertain / retry / waiting / paused /
    skipped, or cancelled / scheduled (held) when an operator stopped it."""

    result: str


@dataclass
class Drained:
    """What one `drain` did, and when a worker is wanted next."""

    results: list[str] = field(default_factory=list)
    more: bool = False  # stopped at its time limit with due messages left
    next_due: datetime | None = None  # the earliest waiting message (backoff, pace)


@dataclass
class Attempt:
    """A claimed message, its open attempt row, and (once sent) the connector's answer."""

    message: Message
    row: DeliveryAttempt
    result: SendResult | None = None
    converted: conversions.Converted | None = None
    duration_ms: int = 0
    status: str = ""  # the message's status after it (set by `outcome_changes`)


def drain(clock: Clock = timezone.now, seconds: float = DRAIN_SECONDS) -> Drained:
    """Claim and send due messages until none is due (or `seconds` have passed)."""
    drained = Drained()
    deadline = time.monotonic() + seconds
    # A claim whose candidates all had to wait for their pace claims nothing, yet
    # it moved them out of the way: go on until a claim finds no candidate at all.
    while (claimed := claim_due_messages(clock)) or claimed.paced:
        drained.results += send_and_record(claimed, clock)
        if time.monotonic() >= deadline:
            drained.more = True
            return drained
    drained.next_due = next_due_time(clock())
    return drained


def deliver(message_id: int, clock: Clock = timezone.now) -> Step:
    """Deliver this one message if it is due (tests, and the operator's "send now")."""
    claimed = claim_due_messages(clock, limit=1, ids=[message_id])
    if claimed:
        return Step(send_and_record(claimed, clock)[0])
    with transaction.atomic():  # waits for a claim holding it (PostgreSQL) to say why
        message = (
            Message.objects.select_for_update(of=("self",))
            .filter(pk=message_id)
            .select_related("bot")
            .first()
        )
    if message is None or message.status != Message.Status.QUEUED:
        return Step("skipped")
    if message.bot.paused_at or not message.bot.is_active:
        return Step("paused")  # resuming the bot wakes its queue
    return Step("waiting")


# --- Claiming -------------------------------------------------------------------------


# The conditions of msg_pending_idx and msg_conversation_delivery_idx (PENDING), and of
# msg_conversation_uncertain_idx (messaging/models.py). In a subquery, their columns
# name the subquery's own table.
PENDING_STATUSES = index_condition(PENDING)
UNCERTAIN_STATUS = index_condition(UNCERTAIN)


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
    hold = timedelta(seconds=settings.DELIVERY_UNCERTAIN_HOLD)
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
    # An uncertain message's `updated_at` is when it became uncertain (operators'
    # decisions change its status): it holds the newer messages of its conversation
    # from then, for DELIVERY_UNCERTAIN_HOLD.
    held_by_uncertain = Message.objects.filter(
        UNCERTAIN_STATUS,
        conversation_id=OuterRef("conversation_id"),
        pk__lt=OuterRef("pk"),
        updated_at__gt=now - hold,
    )
    return waiting_messages(now).filter(heads).exclude(Exists(held_by_uncertain)).order_by("pk")


class Claimed(list):
    """The claimed messages' attempts; `paced`: how many candidates got a wait instead."""

    paced: int = 0


def claim_due_messages(
    clock: Clock = timezone.now, limit: int = CLAIM_BATCH, ids: list[int] | None = None
) -> Claimed:
    """Claim up to `limit` due messages (of `ids`, if given): each now `sending` under a
    lease, with its attempt row open. Messages over their pace get their wait instead."""
    now = clock()
    with transaction.atomic():
        # Locks the rows it returns (PostgreSQL skips rows another claim holds).
        candidates = _lock_due_messages(now, limit, ids)
        going, waits = _pace(candidates, now)
        claimed = Claimed()
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


# --- Sending ----------------------------------------------------------------------------


def send_and_record(attempts: list[Attempt], clock: Clock) -> list[str]:
    """Send each claimed message in turn, recording the answers every RECORD_EVERY_SECONDS.

    Before the first call, and again before any call once RECHECK_SECONDS have passed,
    it reads whether the rest of the batch was stopped meanwhile (`stopped_meanwhile`).
    Before a call whose lease has run low (RENEW_AFTER_SECONDS), it records the answers
    so far and renews the leases of the rest of the batch (`keep_leases`); a message
    the sweeper took back meanwhile (this worker stalled past its lease) is its own.
    """
    statuses: list[str] = []
    unrecorded: list[Attempt] = []
    last_record = time.monotonic()
    stopped: dict[int, str | None] = {}
    last_check = -math.inf
    held = {attempt.message.pk for attempt in attempts}
    lease_seconds = settings.DELIVERY_SENDING_TIMEOUT
    renew_below = timedelta(seconds=lease_seconds - min(RENEW_AFTER_SECONDS, lease_seconds / 2))
    for index, attempt in enumerate(attempts):
        message = attempt.message
        botadmin_logging.bind(bot=message.bot.name, message_id=message.msgid)
        if message.pk in held and message.next_attempt_at - clock() < renew_below:
            statuses += record(unrecorded, clock)
            unrecorded, last_record = [], time.monotonic()
            held = keep_leases(attempts[index:], clock)
        if message.pk not in held:
            statuses.append("skipped")
            continue
        if time.monotonic() - last_check >= RECHECK_SECONDS:
            stopped, last_check = stopped_meanwhile(attempts[index:]), time.monotonic()
        if message.pk in stopped and (kept := keep_back(attempt, stopped[message.pk], clock)):
            statuses.append(kept)
            continue
        began = time.monotonic()
        attempt.result, attempt.converted = call_connector(message, clock())
        attempt.duration_ms = int((time.monotonic() - began) * 1000)
        unrecorded.append(attempt)
        if time.monotonic() - last_record >= RECORD_EVERY_SECONDS:
            statuses += record(unrecorded, clock)
            unrecorded, last_record = [], time.monotonic()
    return statuses + record(unrecorded, clock)


def keep_leases(attempts: list[Attempt], clock: Clock) -> set[int]:
    """Renew the leases of these claimed messages that are still this claim's (still
    `sending` under the lease it gave them: an attempt count says nothing, as an
    operator's retry starts it again); returns their ids."""
    now = clock()
    lease = now + timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT)
    claimed = {attempt.message.pk: attempt.message.next_attempt_at for attempt in attempts}
    held = renew_leases(
        Message.objects.all(), Message.Status.SENDING, claimed, "next_attempt_at", lease, now
    )
    for attempt in attempts:
        if attempt.message.pk in held:
            attempt.message.next_attempt_at = lease
    return held


def stopped_meanwhile(attempts: list[Attempt]) -> dict[int, str | None]:
    """Which of these claimed messages must not be sent after all, read in one query.

    A claimed message may wait in its worker's batch behind slow sends, and
    meanwhile an operator stops it (`stop_requested`: delivery_actions.stop), its
    bot is paused or switched off, or the sweeper takes it back (its lease ran
    out). By id: the stop asked for ("" for its bot), or None when taken back.
    """
    leases = {a.message.pk: a.message.next_attempt_at for a in attempts}
    rows = Message.objects.filter(pk__in=leases, status=Message.Status.SENDING).values_list(
        "pk", "next_attempt_at", "stop_requested", "bot__paused_at", "bot__is_active"
    )
    found = {pk: row for pk, *row in rows}
    stopped: dict[int, str | None] = {}
    for pk, lease in leases.items():
        held_lease, stop, paused_at, active = found.get(pk, (None, "", None, True))
        if held_lease != lease:
            stopped[pk] = None
        elif stop or paused_at is not None or not active:
            stopped[pk] = stop
    return stopped


def keep_back(attempt: Attempt, stop: str | None, clock: Clock) -> str | None:
    """Not send this claimed message after all (`stopped_meanwhile` said `stop`): what
    became of it, or None when it may go (the stop was lifted meanwhile).

    The claim is undone: no call was made, so no attempt either; the message takes
    the stop's status (cancelled, or held), or waits queued for its bot's resume.
    One taken back is left to whoever took it."""
    if stop is None:
        return "skipped"
    message = attempt.message
    status = stop or Message.Status.QUEUED
    changes = {
        "status": status,
        "next_attempt_at": None,
        "attempt_count": F("attempt_count") - 1,
        "stop_requested": "",
        "updated_at": clock(),
    }
    if status == Message.Status.SCHEDULED:
        changes["scheduled_at"] = None  # held
    with transaction.atomic():
        undone = Message.objects.filter(
            pk=message.pk,
            status=Message.Status.SENDING,
            next_attempt_at=message.next_attempt_at,
            stop_requested=stop,
        ).update(**changes)
        if undone:
            DeliveryAttempt.objects.filter(pk=attempt.row.pk).delete()
    if undone:
        return "paused" if status == Message.Status.QUEUED else str(status)
    now_stopped = stopped_meanwhile([attempt])  # it changed meanwhile: read it again
    if message.pk not in now_stopped:
        return None
    return keep_back(attempt, now_stopped[message.pk], clock)


def call_connector(
    message: Message, now: datetime
) -> tuple[SendResult, conversions.Converted | None]:
    """Convert the body to what the bot sends (connectors/conversions.py) and send it; a
    file or voice sent by an upload's media_id goes with the upload's bytes."""
    connector = connector_for(message.bot)
    try:
        body = uploads.body_to_send(message)
    except uploads.UploadGone as error:
        return SendResult(Outcome.FAILED, reasons.of(error)), None
    except Exception as error:  # the media store (a bucket that is down): nothing was sent
        logger.warning("Media store unavailable for message %s", message.pk, exc_info=True)
        unavailable = gettext_noop("media store unavailable: %(error)s")
        return SendResult(Outcome.RETRY, Reason(unavailable, error=repr(error))), None
    try:
        converted = conversions.convert(connector, body)
    except conversions.CannotConvert as error:
        # Accepted before the bot's capabilities changed (an agent announcing less).
        return SendResult(Outcome.FAILED, reasons.of(error)), None
    except Exception as error:  # a conversion bug must not leave the message `sending`
        logger.exception("Converting message %s failed", message.pk)
        bug = Reason(gettext_noop("conversion error: %(error)s"), error=repr(error))
        return SendResult(Outcome.FAILED, bug), None
    return send_parts(connector, message, converted.bodies, now), converted


def send_parts(
    connector: Connector, message: Message, bodies: list[dict], now: datetime
) -> SendResult:
    """Send each body in order; the first keeps the message's id, the others get -2, -3, ….

    The other side's daily caps are taken for every part first (messaging/delivery_caps.py):
    a message that would pass one is held whole, and what parts that did not go out took
    is given back. After a first part went out, a part that could be retried is
    `uncertain` on a connector that does not dedupe (a retry would send the first again).
    """
    result = SendResult(Outcome.FAILED, Reason(gettext_noop("nothing to send")))
    if not bodies:
        return result
    try:
        caps = connector.daily_caps(message.conversation)
    except Exception as error:  # a connector bug: nothing was sent
        logger.exception("Connector %s crashed on message %s", message.bot.connector, message.pk)
        return SendResult(
            Outcome.RETRY, Reason(gettext_noop("connector error: %(error)s"), error=repr(error))
        )
    taken = delivery_caps.take(caps, len(bodies), now)
    if isinstance(taken, SendResult):
        return taken
    for index, body in enumerate(bodies):
        part_id = message.msgid if index == 0 else f"{message.msgid}-{index + 1}"
        result = send_part(connector, message, part_id, body)
        if result.outcome != Outcome.SENT:
            # RETRY and FAILED: this part was not delivered; UNCERTAIN: it may have been.
            delivered = index + (result.outcome == Outcome.UNCERTAIN)
            taken.give_back(len(bodies) - delivered)
            if index and len(bodies) > 1:
                result.detail = Reason(
                    gettext_noop("part %(part)s of %(parts)s: %(reason)s"),
                    part=index + 1,
                    parts=len(bodies),
                    reason=result.detail,
                )
                if result.outcome == Outcome.RETRY and not connector.idempotent:
                    result.outcome = Outcome.UNCERTAIN
            return result
    return result


def send_part(connector: Connector, message: Message, part_id: str, body: dict) -> SendResult:
    """One part through the connector; a template card first gets its task_id for the part
    where the other side wants each used once (`Connector.unique_card_task_ids`)."""
    if connector.unique_card_task_ids and body["msgtype"] == "template_card":
        try:
            body = card_task_ids.own_card(message.bot_id, body, part_id)
        except DatabaseError as error:  # nothing was sent
            unavailable = gettext_noop("the database is unavailable: %(error)s")
            return SendResult(Outcome.RETRY, Reason(unavailable, error=error.__class__.__name__))
    try:
        return connector.send(part_id, message.conversation, body)
    except Exception as error:  # a connector bug must not leave the message `sending`
        logger.exception("Connector %s crashed on message %s", message.bot.connector, message.pk)
        outcome = Outcome.RETRY if connector.idempotent else Outcome.UNCERTAIN
        bug = Reason(gettext_noop("connector error: %(error)s"), error=repr(error))
        return SendResult(outcome, bug)


# --- Recording --------------------------------------------------------------------------


# What recording an attempt may change on its message.
RECORDED = [
    "status",
    "next_attempt_at",
    "last_error",
    "updated_at",
    "sent_at",
    "upstream_msgid",
    "sent_as",
    "conversion",
    "stop_requested",
    "scheduled_at",  # none when held (`stopped_changes`)
]
# What recording an attempt may add to (the difference from the claim's value): a hold
# for a daily cap takes back its claim's attempt, as nothing was tried.
RECORDED_ADDED = ["attempt_count"]
# A message that did go out is `sent`, whatever became of it meanwhile (taken back by
# the sweeper, then queued, held, cancelled, failed or uncertain).
SENT_WHATEVER = (
    Message.Status.QUEUED,
    Message.Status.SCHEDULED,
    Message.Status.CANCELLED,
    Message.Status.FAILED,
    Message.Status.UNCERTAIN,
)


def record(attempts: list[Attempt], clock: Clock) -> list[str]:
    """Write the attempts' outcomes and move their messages on, in one transaction.

    Only the claim that sent a message may move it: one taken back meanwhile
    (its lease ran out) keeps what the sweeper decided, except that a message
    that did go out is `sent` whatever became of it.
    """
    if not attempts:
        return []
    now = clock()
    messages, rows = [], []
    with transaction.atomic():
        stops = requested_stops(attempts)
        for attempt in attempts:
            message, result = attempt.message, attempt.result
            changes = outcome_changes(attempt, now, stops.get(message.pk, ""))
            also = ("",) * len(SENT_WHATEVER)
            if attempt.status == Message.Status.SENT:
                also = SENT_WHATEVER
            lease = message.next_attempt_at  # this claim's: another claim has another
            values = [changes.get(name, getattr(message, name)) for name in RECORDED]
            added = [
                changes.get(name, getattr(message, name)) - getattr(message, name)
                for name in RECORDED_ADDED
            ]
            messages.append((*values, *added, message.pk, Message.Status.SENDING, lease, *also))
            outcome = Outcome.SENT if attempt.status == Message.Status.SENT else result.outcome
            if result.outcome == Outcome.RETRY and attempt.status == Message.Status.FAILED:
                outcome = Outcome.FAILED  # gave up
            rows.append(
                (
                    outcome,
                    attempt.duration_ms,
                    result.http_status,
                    result.errcode,
                    reasons.shorten(result.detail, RESPONSE_TEXT_LIMIT),
                    attempt.row.pk,
                )
            )
        moved = update_each(
            Message,
            RECORDED,
            messages,
            added=RECORDED_ADDED,
            where="(status = %s AND next_attempt_at = %s) OR status IN ("
            + ", ".join(["%s"] * len(SENT_WHATEVER))
            + ")",
        )
        update_each(
            DeliveryAttempt,
            ["outcome", "duration_ms", "http_status", "errcode", "response_text"],
            rows,
        )
        # In bot id order, as every worker: two pausing the same bots never deadlock.
        for attempt in sorted(attempts, key=lambda a: a.message.bot_id):
            if attempt.result.account_problem:
                pause_bot(attempt.message.bot_id, attempt.result.account_problem, now)
    if moved < len(attempts):
        mine = set(
            Message.objects.filter(
                pk__in=[a.message.pk for a in attempts], updated_at=now
            ).values_list("pk", flat=True)
        )
        for attempt in attempts:
            if attempt.message.pk not in mine:
                logger.info(
                    "Message %s was taken back while sending; its outcome is only logged.",
                    attempt.message.pk,
                )
        attempts_moved = [a for a in attempts if a.message.pk in mine]
    else:
        attempts_moved = attempts
    for attempt in attempts_moved:
        metrics.message_delivered(attempt.message, attempt.status, now, attempt.converted)
    return ["retry" if a.status == Message.Status.QUEUED else str(a.status) for a in attempts]


def requested_stops(attempts: list[Attempt]) -> dict[int, str]:
    """The stops asked of these messages while they were in flight (`stop_requested`), by
    id; only a retry heeds one, so read only when there is one.

    Intent: lock the batch's rows first, in id order, as delivery_actions.stop does
    (no circle of waits); a stop marks them before this reads, or finds them moved on
    from `sending` once this commits and stops them itself."""
    if all(a.result.outcome != Outcome.RETRY for a in attempts):
        return {}
    locked = (
        Message.objects.select_for_update(of=("self",))
        .filter(pk__in=[a.message.pk for a in attempts])
        .order_by("pk")
    )
    return {pk: stop for pk, stop in locked.values_list("pk", "stop_requested") if stop}


def outcome_changes(attempt: Attempt, now: datetime, stop: str = "") -> dict:
    """The message's new columns after this attempt; `stop`: the status an operator
    asked for while it was in flight (`stop_requested`)."""
    result, message = attempt.result, attempt.message
    changes: dict = {
        "updated_at": now,
        "last_error": reasons.shorten(result.detail, 2000),
        "stop_requested": "",
    }
    if attempt.converted is not None:
        changes |= {"sent_as": attempt.converted.sent_as, "conversion": attempt.converted.note}
    if result.outcome == Outcome.SENT:
        changes |= {
            "status": Message.Status.SENT,
            "sent_at": now,
            "next_attempt_at": None,
            "last_error": "",
            "upstream_msgid": result.upstream_msgid[:128],
        }
    elif result.outcome == Outcome.RETRY and stop:
        parts = len(attempt.converted.bodies) if attempt.converted else 1
        # An idempotent connector retries after no answer too (its repeat is harmless),
        # so such an attempt, or one that sent a part before failing, may have arrived.
        unsure = (
            connector_class(message.bot.connector).idempotent
            and (result.http_status is None or parts > 1)
            and result.hold_until is None
        )
        changes |= stopped_changes(stop, result.detail, now, unsure)
    elif result.outcome == Outcome.RETRY and result.hold_until is not None:
        # A daily cap: nothing went out, and the day it waits for comes whatever happens.
        # Nor is it an attempt: its claim's is taken back (its attempt row stays, saying
        # why it waited), else each hold would use up the retries the message has left.
        changes |= {
            "status": Message.Status.QUEUED,
            "next_attempt_at": result.hold_until,
            "attempt_count": message.attempt_count - 1,
        }
    elif result.outcome == Outcome.RETRY:
        delay = retry_delay(delivery_schedule(), message.attempt_count, result.retry_after or 0.0)
        if delay is None:
            changes |= {
                "status": Message.Status.FAILED,
                "next_attempt_at": None,
                "last_error": gave_up(message.attempt_count, result.detail),
            }
        else:
            changes |= {
                "status": Message.Status.QUEUED,
                "next_attempt_at": now + timedelta(seconds=delay),
            }
    elif result.outcome == Outcome.UNCERTAIN:
        changes |= uncertain_changes(result.detail, now)
    else:
        changes |= {"status": Message.Status.FAILED, "next_attempt_at": None}
    attempt.status = changes["status"]
    return changes


def gave_up(attempts: int, detail: str) -> Reason:
    """The last error of a message that failed with its DELIVERY_MAX_ATTEMPTS used up."""
    return Reason(
        gettext_noop("gave up after %(count)s attempts: %(reason)s"),
        count=attempts,
        reason=reasons.shorten(detail, 2000),
    )


STOPPED_IN_FLIGHT = {
    Message.Status.CANCELLED: gettext_noop(
        "%(reason)s — not tried again: cancelled while this attempt was in flight"
    ),
    Message.Status.SCHEDULED: gettext_noop(
        "%(reason)s — held: paused while this attempt was in flight; tried again when resumed"
    ),
}


def stopped_changes(stop: str, detail: str, now: datetime, unsure: bool) -> dict:
    """A message stopped while in flight (`stop_requested`) whose attempt did not deliver
    it for sure: cancelled or held as asked, not retried. `unsure`: the attempt may have
    arrived; a cancelled one is then `uncertain` (an operator checks the chat), never
    called cancelled; a held one is repeated on resume, which its connector dedupes."""
    note = Reason(STOPPED_IN_FLIGHT[stop], reason=reasons.shorten(detail, 2000))
    if stop == Message.Status.CANCELLED and unsure:
        return uncertain_changes(note, now)
    changes = {"status": stop, "next_attempt_at": None, "last_error": note}
    if stop == Message.Status.SCHEDULED:
        changes["scheduled_at"] = None
    return changes


def uncertain_changes(detail: str, now: datetime) -> dict:
    """Nothing retries an uncertain message; it holds its conversation's newer messages for
    DELIVERY_UNCERTAIN_HOLD (`due_messages`), and says so."""
    until = now + timedelta(seconds=settings.DELIVERY_UNCERTAIN_HOLD)
    note = Reason(
        gettext_noop(
            "%(reason)s — it may have been delivered: newer messages of this conversation wait "
            "until %(until)s UTC (DELIVERY_UNCERTAIN_HOLD) unless an operator marks it sent or "
            "retries it first"
        ),
        reason=reasons.shorten(detail, 2000),
        until=f"{until:%Y-%m-%d %H:%M:%S}",
    )
    return {"status": Message.Status.UNCERTAIN, "next_attempt_at": None, "last_error": note}
