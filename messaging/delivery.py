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
  RECHECK_SECONDS of the stop) goes out, and is recorded as what it did;
* a conversation whose deletion was asked for (conversations/deletion_marks.py) is
  sent nothing more: a claim that finds its head cancels its queued messages
  instead ("not sent: its conversation is being deleted"), read with the head at
  no extra query, before the pace is taken (they use none of it); one already
  claimed is kept back like a stopped one. The deletion job then deletes them.

This module drains and delivers; the engine's parts are the claim
(messaging/delivery_claim.py), the sends (messaging/delivery_send.py) and the
recording of what they did (messaging/delivery_outcomes.py).

Every function takes a `clock` so tests can run minutes of pacing in simulated time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .delivery_claim import Clock, claim_due_messages, next_due_time
from .delivery_send import send_and_record
from .models import Message

# A woken worker drains for at most this long, then hands on to a fresh task.
DRAIN_SECONDS = 30


@dataclass
class Step:
    """What one `deliver` call did: sent / failed / uncertain / retry / waiting / paused /
    skipped, or cancelled / scheduled (held) when an operator stopped it (cancelled too
    when its conversation is being deleted)."""

    result: str


@dataclass
class Drained:
    """What one `drain` did, and when a worker is wanted next."""

    results: list[str] = field(default_factory=list)
    more: bool = False  # stopped at its time limit with due messages left
    next_due: datetime | None = None  # the earliest waiting message (backoff, pace)


def drain(clock: Clock = timezone.now, seconds: float = DRAIN_SECONDS) -> Drained:
    """Claim and send due messages until none is due (or `seconds` have passed)."""
    drained = Drained()
    deadline = time.monotonic() + seconds
    # A claim whose candidates all had to wait for their pace claims nothing, yet
    # it moved them out of the way: go on until a claim finds no candidate at all.
    while (claimed := claim_due_messages(clock)) or claimed.paced or claimed.cancelled:
        drained.results += ["cancelled"] * claimed.dropped
        drained.results += send_and_record(claimed, clock)
        if time.monotonic() >= deadline:
            drained.more = True
            return drained
    drained.next_due = next_due_time(clock())
    return drained


def deliver(message_id: int, clock: Clock = timezone.now) -> Step:
    """Deliver this one message if it is due, in this process: for tests and benchmarks
    (bench/app_callback.py); workers drain instead."""
    claimed = claim_due_messages(clock, limit=1, ids=[message_id])
    if claimed:
        return Step(send_and_record(claimed, clock)[0])
    if claimed.cancelled:
        return Step("cancelled")  # its conversation is being deleted
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
