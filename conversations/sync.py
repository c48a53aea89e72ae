"""Contact sync: keep a bot's users and groups current from its connector.

A sync is a `SyncRun` row. `request_sync` creates it (or joins the one
already pending or running: the database allows one per bot) and wakes a
worker after the commit; `run_sync` claims it by compare-and-set and walks
the connector's pages, upserting each page in one transaction and recording
progress as it goes. A run silent for STALE_AFTER is declared abandoned by the beat
(`_recover`): a page of many calls to the other side notes between them that it is
still at work (`Connector.still_working`), and every write of the worker's is on the
condition that the run is still running, so one declared abandoned stays so and its
late worker stops (`RunGivenUp`). Only a complete sync deactivates what it did not see;
one that fails half-way keeps everything it has not seen as it was. A
change the other side reports (WeCom's change_contact) requests a run that
waits for the beat, so that a burst of changes is one sync
(`request_sync_after_change`).

Connectors that cannot list contacts (`wecom_robot`: the operator enters each
group with its robot key) are checked instead: `Connector.check_contacts` asks about
every group, a few at a time within a time budget, and each verdict reactivates or
deactivates its group as it comes. A group without a clear answer this time (the other
side busy, unreachable, out of time) is left as it was and counted on the run as not
checked; the run succeeds with the other groups' verdicts, and fails only when it
could check none. Such a bot with no group entered yet has nothing to check: a
requested sync ends at once as "not possible" saying so, and no periodic sync runs
for it (an empty run every interval would only say that nothing was checked). A connector
that can do neither (`wecom_aibot`: its chats are known from their messages)
ends a requested sync at once as "not possible", saying why, and is left out
of the periodic syncs.

Requesting a run and the runs that follow one are in `sync_requests.py`; applying a
listing's pages in `sync_listing.py`; claiming and carrying out a run, and the beat's
periodic work, here.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import metrics, reasons
from botadmin.reasons import Reason, ngettext_noop
from connectors.base import Connector, ConnectorError
from connectors.registry import CONNECTORS, connector_for

from . import refusals
from .active_counts import forget_active_counts
from .key_checks import key_check_values, record_key_checks
from .models import Bot, Conversation, SyncRun
from .services import refresh_connector_state
from .sync_listing import _sync_listed
from .sync_requests import (
    ABANDONED,
    _follow_up,
    _follow_up_abandoned,
    _not_possible_reason,
    enqueue_run,
    request_sync,
)

logger = logging.getLogger(__name__)

# A sync that showed no sign of life for this long was abandoned by its worker.
STALE_AFTER = timedelta(minutes=5)
# A page that takes long notes that it is still at work this often (`_Progress.still_working`).
HEARTBEAT_EVERY = timedelta(seconds=30)
# A pending sync whose wake-up was lost is handed to a worker again after this.
REENQUEUE_AFTER = timedelta(minutes=1)
# Finished runs older than this are deleted by the periodic task.
KEEP_RUNS_FOR = timedelta(days=30)
PRUNE_BATCH = 1000
# Every operator-entered group's check ended without a clear answer, the first one's why.
NONE_CHECKED = ngettext_noop(
    "%(count)s group could not be checked (%(reason)s); it was not changed",
    "none of the %(count)s groups could be checked (e.g. %(reason)s); none was changed",
    "count",
)
# What runs stored before NONE_CHECKED had a singular say ("none of the 1 groups …"):
# kept so they translate. Their English stays as it was stored.
EARLIER_NONE_CHECKED = gettext_noop(
    "none of the %(count)s groups could be checked (e.g. %(reason)s); none was changed"
)
FINISHED_OUTCOMES = (
    SyncRun.Outcome.SUCCEEDED,
    SyncRun.Outcome.FAILED,
    SyncRun.Outcome.NOT_POSSIBLE,
)


def sync_now(bot: Bot, trigger: str, user=None) -> SyncRun:
    """Sync in this process (command line, start-up), or join the bot's running sync.

    A joined sync that no worker has claimed yet is carried out here: the
    claim in run_sync makes sure only one process does it.
    """
    run, _created = request_sync(bot, trigger, user, enqueue=False)
    return run_sync(run.pk)


# --- running ------------------------------------------------------------------


class RunGivenUp(Exception):
    """The run is no longer running: the beat declared it abandoned while its worker was
    still at it (a page slower than STALE_AFTER). The worker stops without writing more:
    the run stays failed, and a sync it owed follows it (`_follow_up_abandoned`)."""


@dataclass
class _Progress:
    run: SyncRun
    pages: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    changed_since_saved: bool = False

    def add(self, kind: str, change: str, n: int) -> None:
        key = f"{kind}s_{change}"
        self.counts[key] = self.counts.get(key, 0) + n
        self.changed_since_saved = self.changed_since_saved or n > 0

    def unchecked(self, kind: str, n: int) -> None:
        """How many entered contacts of `kind` had no clear answer so far (none changed)."""
        self.counts[f"{kind}s_unchecked"] = n

    def save(self) -> None:
        """Write the progress so far (inside the page's transaction, which RunGivenUp
        rolls back)."""
        self._write(pages_fetched=self.pages, heartbeat_at=timezone.now(), **self.counts)
        if self.changed_since_saved:
            forget_active_counts(self.run.bot)
            self.changed_since_saved = False

    def still_working(self) -> None:
        """The connector between two calls of a long page: note that the run is alive
        (at most every HEARTBEAT_EVERY), or raise RunGivenUp."""
        now = timezone.now()
        if self.run.heartbeat_at is None or now - self.run.heartbeat_at >= HEARTBEAT_EVERY:
            self._write(heartbeat_at=now)

    def _write(self, **values) -> None:
        """Only while the run is running: one declared abandoned meanwhile stays so."""
        run = self.run
        if not SyncRun.objects.filter(pk=run.pk, outcome=SyncRun.Outcome.RUNNING).update(**values):
            raise RunGivenUp(run.pk)
        for name, value in values.items():
            setattr(run, name, value)


def run_sync(run_id: int) -> SyncRun:
    """Claim a pending run and carry it out. Safe to call twice: the second does nothing."""
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, outcome=SyncRun.Outcome.PENDING).update(
        outcome=SyncRun.Outcome.RUNNING, started_at=now, heartbeat_at=now
    )
    run = SyncRun.objects.select_related("bot").get(pk=run_id)
    if not claimed:
        return run
    progress = _Progress(run)
    try:
        connector = connector_for(run.bot)
        connector.still_working = progress.still_working
        if not connector.syncs_contacts():  # a run requested before the bot changed connector
            _finish(run, SyncRun.Outcome.NOT_POSSIBLE, _not_possible_reason())
            return run
        refresh_connector_state(run.bot)
        if connector.lists_contacts:
            _sync_listed(connector, progress)
        else:
            _check_entered(connector, progress)
    except RunGivenUp:
        _given_up(run)
    except ConnectorError as error:
        if error.detail:  # what the other side answered: for the log only
            logger.info("Contact sync %s failed: %s; answered: %s", run.pk, error, error.detail)
        if error.account_problem:
            refusals.noted(run.bot, error.account_problem)
        _finish(run, SyncRun.Outcome.FAILED, reasons.shorten(reasons.of(error), 2000))
    except Exception as error:
        logger.exception("Contact sync %s of bot %s failed", run.pk, run.bot_id)
        internal = gettext_noop("internal error: %(error)s")
        _finish(run, SyncRun.Outcome.FAILED, Reason(internal, error=error.__class__.__name__))
    else:
        refusals.noted(run.bot, "")  # the other side took the bot's credentials
        _finish(run, SyncRun.Outcome.SUCCEEDED)
    return run


def _finish(run: SyncRun, outcome: str, error: str = "") -> None:
    # Not changed_while_running: a change reported now was noted on the row, or, once
    # the run is no longer running, starts a run of its own.
    finished_at = timezone.now()
    ended = SyncRun.objects.filter(pk=run.pk, outcome=SyncRun.Outcome.RUNNING).update(
        outcome=outcome, error=error, finished_at=finished_at
    )
    if not ended:
        _given_up(run)
        return
    run.outcome, run.error, run.finished_at = outcome, error, finished_at
    _follow_up(run)
    metrics.contact_sync_finished(outcome)
    logger.info(
        "Contact sync %s of bot %s: %s after %d pages %s",
        run.pk,
        run.bot_id,
        outcome,
        run.pages_fetched,
        error,
    )


def _given_up(run: SyncRun) -> None:
    """The run was declared abandoned while this worker still ran it: it stays so."""
    logger.warning(
        "Contact sync %s of bot %s was declared abandoned while still at work; its worker stops.",
        run.pk,
        run.bot_id,
    )
    run.refresh_from_db()


def _check_entered(connector: Connector, progress: _Progress) -> None:
    """Operator-entered groups (robot keys): ask the connector whether each still works."""
    run = progress.run
    groups = list(run.bot.conversations.filter(kind=Conversation.Kind.GROUP).order_by("pk"))
    unchecked, not_working, why = 0, 0, ""
    for check in connector.check_contacts(groups):
        if check.works is None:
            record_key_checks([check])
            unchecked += 1
            why = why or check.reason
            progress.unchecked(Conversation.Kind.GROUP, unchecked)
            progress.pages += 1
            progress.save()
            continue
        conversation = check.conversation
        with transaction.atomic():
            # Only while it still has the key that was checked: an operator may have
            # entered a new one meanwhile, which the next sync checks.
            now = timezone.now()
            changed = Conversation.objects.filter(
                pk=conversation.pk, robot_key=conversation.robot_key
            ).update(is_active=check.works, last_synced_at=now, **key_check_values(check, now))
            if changed and check.works != conversation.is_active:
                change = "reactivated" if check.works else "deactivated"
                progress.add(Conversation.Kind.GROUP, change, 1)
            if changed and not check.works:
                not_working += 1
                progress.counts["groups_not_working"] = not_working
            progress.pages += 1
            progress.save()
    if unchecked and unchecked == len(groups):
        logger.info("Contact sync %s: no group could be checked: %s", run.pk, why)
        raise ConnectorError(Reason(NONE_CHECKED, count=unchecked, reason=why))


# --- periodic -----------------------------------------------------------------


def sync_due_bots(now: datetime | None = None) -> list[SyncRun]:
    """The beat entry: recover lost or abandoned runs, then start the syncs that are due.

    Each bot syncs once per interval at its own offset inside the interval
    (from a hash of its id), so a hundred bots do not all hit their agents
    in the same minute. A sync requested by hand inside the current window
    counts for it. Bots whose connector cannot sync contacts are left out, and so
    are bots with no entered group to check: a run every interval would only repeat
    that it is not possible.
    """
    now = now or timezone.now()
    _recover(now)
    _prune(now)
    interval = settings.BOTADMIN_SYNC_INTERVAL_MINUTES * 60
    if interval <= 0:
        return []
    started = []
    # The latest request per bot by an index seek on (bot, -requested_at), not an
    # aggregate over every run ever recorded.
    latest = SyncRun.objects.filter(bot=OuterRef("pk")).order_by("-requested_at")
    syncable = [kind for kind, connector in CONNECTORS.items() if connector.syncs_contacts()]
    # A bot that checks entered groups and has none: a run would check nothing.
    entering = [kind for kind in syncable if not CONNECTORS[kind].lists_contacts]
    groups = Conversation.objects.filter(bot=OuterRef("pk"), kind=Conversation.Kind.GROUP)
    bots = (
        Bot.objects.filter(is_active=True, connector__in=syncable)
        .exclude(Q(connector__in=entering) & ~Exists(groups))
        .annotate(last=Subquery(latest.values("requested_at")[:1]))
    )
    for bot in bots:
        if bot.last is None or bot.last < window_start(bot.pk, now, interval):
            run, created = request_sync(bot, SyncRun.Trigger.PERIODIC)
            if created:
                started.append(run)
    return started


def window_start(bot_id: int, now: datetime, interval_seconds: int) -> datetime:
    """Start of the bot's current sync window: its fixed offset, repeated every interval."""
    offset = zlib.crc32(str(bot_id).encode()) % interval_seconds
    into_window = (now.timestamp() - offset) % interval_seconds
    return now - timedelta(seconds=into_window)


def _prune(now: datetime) -> None:
    """Finished runs are kept for KEEP_RUNS_FOR: 144 a day per bot add up."""
    old = SyncRun.objects.filter(
        requested_at__lt=now - KEEP_RUNS_FOR, outcome__in=FINISHED_OUTCOMES
    ).values_list("pk", flat=True)
    while ids := list(old[:PRUNE_BATCH]):
        SyncRun.objects.filter(pk__in=ids).delete()


def _recover(now: datetime) -> None:
    abandoned = SyncRun.objects.filter(
        outcome=SyncRun.Outcome.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    for run_id in abandoned.values_list("pk", flat=True):
        updated = SyncRun.objects.filter(
            pk=run_id, outcome=SyncRun.Outcome.RUNNING, heartbeat_at__lt=now - STALE_AFTER
        ).update(
            outcome=SyncRun.Outcome.FAILED,
            finished_at=now,
            error=ABANDONED,
        )
        if updated:
            logger.warning("Contact sync %s was abandoned; marked failed.", run_id)
            _follow_up_abandoned(run_id)
    lost = SyncRun.objects.filter(
        outcome=SyncRun.Outcome.PENDING, requested_at__lt=now - REENQUEUE_AFTER
    )
    for run_id in lost.values_list("pk", flat=True):
        enqueue_run(run_id)
