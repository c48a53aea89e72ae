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
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
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
from .sort_keys import name_sort_key

logger = logging.getLogger(__name__)

KINDS = (Conversation.Kind.USER, Conversation.Kind.GROUP)
BATCH_SIZE = 500
# A sync that showed no sign of life for this long was abandoned by its worker.
STALE_AFTER = timedelta(minutes=5)
# A page that takes long notes that it is still at work this often (`_Progress.still_working`).
HEARTBEAT_EVERY = timedelta(seconds=30)
# A pending sync whose wake-up was lost is handed to a worker again after this.
REENQUEUE_AFTER = timedelta(minutes=1)
# Finished runs older than this are deleted by the periodic task.
KEEP_RUNS_FOR = timedelta(days=30)
PRUNE_BATCH = 1000
ABANDONED = Reason(gettext_noop("abandoned: no progress for 5 minutes (worker stopped?)"))
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
# Why a bot whose connector checks entered groups does not sync yet (`not_possible_reason`).
NOTHING_TO_CHECK = gettext_noop(
    "No group to check yet: add each group with its robot key first. The contact sync then "
    "checks that every robot key still works (nothing is posted)."
)
FINISHED_OUTCOMES = (
    SyncRun.Outcome.SUCCEEDED,
    SyncRun.Outcome.FAILED,
    SyncRun.Outcome.NOT_POSSIBLE,
)
# Guard against an agent whose cursors never end.
MAX_PAGES_PER_KIND = 100_000
KNOWN_FIELDS = {"conversation_id", "name", "avatar", "member_count"}
SYNCED_FIELDS = ["kind", "name", "avatar_url", "member_count", "extra"]


# --- requesting ---------------------------------------------------------------


def request_sync(
    bot: Bot, trigger: str, user=None, *, enqueue: bool = True
) -> tuple[SyncRun, bool]:
    """Start a sync of this bot, or join the one already pending or running.

    Returns the run and whether it is new. A new run is handed to a worker
    once the current transaction commits (unless `enqueue` is off: the caller
    then runs it itself with `run_sync`).
    """
    if not can_sync(bot):
        return _record_not_possible(bot, trigger, user), True
    for _attempt in range(3):
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(bot=bot, trigger=trigger, requested_by=user)
        except IntegrityError:
            # Another request won the race; join its run (unless it just ended).
            existing = SyncRun.objects.filter(bot=bot, outcome__in=SyncRun.ACTIVE_OUTCOMES).first()
            if existing is not None:
                return existing, False
            continue
        if enqueue:
            enqueue_run(run.pk)
        return run, True
    raise RuntimeError(f"could not start or join a sync of bot {bot.pk}")


def can_sync(bot: Bot) -> bool:
    """Whether a contact sync of this bot can do anything (its connector lists contacts, or
    checks the ones entered and the bot has some)."""
    return not_possible_reason(bot) is None


def checks_entered(bot: Bot) -> bool:
    """Whether its contact sync checks the groups entered by hand (a group robot's robot
    keys) rather than listing contacts from the other side."""
    connector = CONNECTORS.get(bot.connector)
    return connector is not None and connector.enters_contacts and not connector.lists_contacts


def not_possible_reason(bot: Bot) -> Reason | None:
    """Why a contact sync of this bot would do nothing, or None when it can do something."""
    connector = CONNECTORS.get(bot.connector)
    if connector is None:
        return None
    if not connector.syncs_contacts():
        return _not_possible_reason()
    if checks_entered(bot) and not _entered_groups(bot).exists():
        return Reason(NOTHING_TO_CHECK)
    return None


def _entered_groups(bot: Bot):
    return Conversation.objects.filter(bot=bot, kind=Conversation.Kind.GROUP)


def _not_possible_reason() -> Reason:
    return Reason(SyncRun.NOT_POSSIBLE_MSGID)


def _record_not_possible(bot: Bot, trigger: str, user) -> SyncRun:
    """A requested sync that cannot do anything ends at once, saying why."""
    now = timezone.now()
    run = SyncRun.objects.create(
        bot=bot,
        trigger=trigger,
        requested_by=user,
        outcome=SyncRun.Outcome.NOT_POSSIBLE,
        started_at=now,
        finished_at=now,
        error=not_possible_reason(bot) or _not_possible_reason(),
    )
    metrics.contact_sync_finished(run.outcome)
    return run


def request_sync_after_change(bot: Bot) -> None:
    """The other side says the bot's contacts changed: sync soon, once for a burst of changes.

    The run is created pending and left to the beat, which hands a pending run to a
    worker once it is REENQUEUE_AFTER old (`_recover`): every change until then joins
    it, so a bulk import of thousands of members costs one sync, or a few when it
    lasts longer. A change while a run is running, which may have read that contact
    already, is noted on the run, and another run follows it (`_follow_up`; when its
    worker abandoned it, the beat's recovery does: `_follow_up_abandoned`).
    """
    if not can_sync(bot):
        return
    for _attempt in range(3):
        if SyncRun.objects.filter(bot=bot, outcome=SyncRun.Outcome.PENDING).exists():
            return  # it has not read anything yet
        running = SyncRun.objects.filter(bot=bot, outcome=SyncRun.Outcome.RUNNING)
        if running.update(changed_while_running=True):
            return
        run, _created = request_sync(bot, SyncRun.Trigger.CONTACT_CHANGE, enqueue=False)
        if run.outcome == SyncRun.Outcome.PENDING:
            return
        # Joined a run a worker claimed meanwhile: note the change on it.


def _follow_up(run: SyncRun) -> None:
    """Another run after one during which the other side reported a contact change."""
    if SyncRun.objects.filter(pk=run.pk, changed_while_running=True).exists():
        request_sync(run.bot, SyncRun.Trigger.CONTACT_CHANGE, enqueue=False)


def _follow_up_abandoned(run_id: int) -> None:
    """Another run after an abandoned one that owed a sync after a contact change: it
    was that sync, or a change was reported while it ran. Like any change, the run
    waits for the beat and joins one already pending. Not after an abandoned run that
    followed an abandoned one: a sync that kills its worker would otherwise repeat every
    few minutes instead of once per interval."""
    run = SyncRun.objects.select_related("bot").get(pk=run_id)
    if not _owed_a_sync(run):
        return
    before = SyncRun.objects.filter(bot=run.bot_id, requested_at__lt=run.requested_at)
    previous = before.order_by("-requested_at").first()
    if previous is not None and previous.error == ABANDONED and _owed_a_sync(previous):
        return
    if can_sync(run.bot):
        request_sync(run.bot, SyncRun.Trigger.CONTACT_CHANGE, enqueue=False)


def _owed_a_sync(run: SyncRun) -> bool:
    return run.changed_while_running or run.trigger == SyncRun.Trigger.CONTACT_CHANGE


def enqueue_run(run_id: int) -> None:
    # A run the broker never got stays pending; sync_due_bots hands it out again.
    from .tasks import run_sync  # the tasks import this module

    run_sync.delay_on_commit(run_id)


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


def _sync_listed(connector: Connector, progress: _Progress) -> None:
    run = progress.run
    for kind in KINDS:
        cursor, seen_cursors = None, set()
        for _page in range(MAX_PAGES_PER_KIND):
            page = connector.fetch_contacts(kind, cursor)
            with transaction.atomic():
                _upsert_page(run.bot, kind, page.items, progress)
                progress.pages += 1
                progress.save()
            if not page.next_cursor:
                break
            if page.next_cursor in seen_cursors:
                repeated = gettext_noop("protocol error: the agent repeated cursor %(cursor)s")
                raise ConnectorError(Reason(repeated, cursor=repr(cursor)))
            seen_cursors.add(page.next_cursor)
            cursor = page.next_cursor
        else:
            too_many = gettext_noop("protocol error: more than %(count)s pages")
            raise ConnectorError(Reason(too_many, count=MAX_PAGES_PER_KIND))
    # Complete: whatever this sync did not see is gone from the account.
    with transaction.atomic():
        for kind in KINDS:
            unseen = Conversation.objects.filter(
                bot=run.bot, kind=kind, is_active=True, created_at__lt=run.started_at
            ).filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=run.started_at))
            progress.add(kind, "deactivated", unseen.update(is_active=False))
        progress.save()


def _contact_fields(kind: str, item: dict) -> dict:
    """Our columns from one protocol item (validated by the connector: id and name are strings)."""
    avatar = item.get("avatar")
    member_count = item.get("member_count")
    return {
        "kind": kind,
        "name": item["name"][:255],
        "avatar_url": avatar[:1000]
        if isinstance(avatar, str) and avatar.startswith(("https://", "http://"))
        else "",
        "member_count": member_count
        if isinstance(member_count, int)
        and not isinstance(member_count, bool)
        and member_count >= 0
        else None,
        "extra": {key: value for key, value in item.items() if key not in KNOWN_FIELDS},
    }


def _upsert_page(bot: Bot, kind: str, items: Iterable[dict], progress: _Progress) -> None:
    now = timezone.now()
    incoming = {item["conversation_id"][:255]: _contact_fields(kind, item) for item in items}
    existing = {}
    ids = list(incoming)
    for start in range(0, len(ids), BATCH_SIZE):
        for conversation in Conversation.objects.filter(
            bot=bot, conversation_id__in=ids[start : start + BATCH_SIZE]
        ).only("pk", "conversation_id", "is_active", "name_sort_key", *SYNCED_FIELDS):
            existing[conversation.conversation_id] = conversation
    new, changed, rekeyed, unchanged = [], [], [], []
    for conversation_id, values in incoming.items():
        conversation = existing.get(conversation_id)
        if conversation is None:
            # Its name_sort_key comes with the insert (the field's pre_save).
            new.append(
                Conversation(bot=bot, conversation_id=conversation_id, last_synced_at=now, **values)
            )
            continue
        differs = any(getattr(conversation, name) != value for name, value in values.items())
        if conversation.is_active and not differs:
            unchanged.append(conversation.pk)
            # A key not its name's: a host still on the release before the key added or
            # renamed it (a rolling upgrade), or an earlier definition of the key made it.
            key = name_sort_key(conversation.name, conversation.kind)
            if key != conversation.name_sort_key:
                conversation.name_sort_key = key
                rekeyed.append(conversation)
            continue
        progress.add(kind, "updated" if conversation.is_active else "reactivated", 1)
        for name, value in values.items():
            setattr(conversation, name, value)
        conversation.is_active, conversation.last_synced_at = True, now
        conversation.name_sort_key = name_sort_key(conversation.name, conversation.kind)
        changed.append(conversation)
    # A conversation an inbound message created meanwhile is updated, not duplicated.
    Conversation.objects.bulk_create(
        new,
        batch_size=BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["bot", "conversation_id"],
        update_fields=[*SYNCED_FIELDS, "name_sort_key", "is_active", "last_synced_at"],
    )
    progress.add(kind, "added", len(new))
    Conversation.objects.bulk_update(
        changed,
        [*SYNCED_FIELDS, "name_sort_key", "is_active", "last_synced_at"],
        batch_size=BATCH_SIZE,
    )
    Conversation.objects.bulk_update(rekeyed, ["name_sort_key"], batch_size=BATCH_SIZE)
    for start in range(0, len(unchanged), BATCH_SIZE):
        Conversation.objects.filter(pk__in=unchanged[start : start + BATCH_SIZE]).update(
            last_synced_at=now
        )


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
