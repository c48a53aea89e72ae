"""Requesting a contact sync: start one or join the bot's pending or running run, and
the runs that follow one (conversations/sync.py has the whole story).

`request_sync` creates the `SyncRun` (the database allows one pending or running per
bot) and wakes a worker after the commit; a change the other side reports waits for
the beat (`request_sync_after_change`); a run that saw a change, or was abandoned
owing a sync, is followed by another (`_follow_up`, `_follow_up_abandoned`). Whether
a bot can sync at all (`can_sync`, `not_possible_reason`) is decided here too.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import metrics
from botadmin.reasons import Reason
from connectors.registry import CONNECTORS

from .models import Bot, Conversation, SyncRun

ABANDONED = Reason(gettext_noop("abandoned: no progress for 5 minutes (worker stopped?)"))
# Why a bot whose connector checks entered groups does not sync yet (`not_possible_reason`).
NOTHING_TO_CHECK = gettext_noop(
    "No group to check yet: add each group with its robot key first. The contact sync then "
    "checks that every robot key still works (nothing is posted)."
)


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
