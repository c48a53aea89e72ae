"""Composing announcements: create, edit and save as a draft, send a draft, save an audience.

Each function owns its transaction and wakes the scheduler on commit when a run is due.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit.services import record_action
from conversations.models import Bot, Conversation
from messaging.validation import search_text, validate_outbound

from .audience import chunked, recipients_now, replace_members
from .edit_changes import changes, snapshot
from .models import Announcement, SavedAudience
from .schedule import RECURRING, Schedule, ScheduleError, parse
from .scheduler import tick_on_commit


class NotEditableError(ValueError):
    """The announcement has no run left (finished, cancelled, or paused while sending its
    last run), or a run is handing it out (`Announcement.is_editable`)."""


NOT_EDITABLE = gettext_lazy(
    "This announcement cannot be edited now: it has no run left (it has finished, is "
    "cancelled, or was paused while sending its last run), or a run is preparing its "
    "messages at this moment."
)
# A paused announcement's paused runs hold recipients that only resuming or cancelling
# it releases: as a draft it could be neither.
PAUSED_STAYS_PAUSED = gettext_lazy(
    "A paused announcement stays paused when edited: save it, then resume or cancel it."
)


@dataclass
class Draft:
    """What the compose form collected, before validation."""

    bot: Bot
    title: str
    body: dict
    conversation_ids: list[int]  # the chosen conversations (with the audience LISTED)
    kind: str
    schedule: dict
    timezone: str
    saved_audience: SavedAudience | None = None
    audience: str = Announcement.Audience.LISTED
    audience_search: str = ""  # with a rule: only the conversations it names
    submission: str = ""  # the compose page's id: one announcement per page (when creating)
    # When editing: the announcement's edited_version() as the page showed it ("" unchecked).
    edited_version: str = ""


class EditedMeanwhile(Exception):
    """The edited announcement was saved by someone else (another tab) after the page that
    posts the edit showed it: saving would undo that edit unseen. `version` is its current
    edited_version(), which a page posts to save over it knowingly."""

    def __init__(self, version: str):
        super().__init__(version)
        self.version = version


EDITED_MEANWHILE = gettext_lazy(
    "This announcement has been changed and saved elsewhere (in another tab or by another "
    "operator) since this page was opened. What you entered is kept below, but saving it "
    "now replaces those changes: open the announcement in a new tab to see them, or save "
    "again to keep yours."
)


def edited_version(announcement: Announcement) -> str:
    """A fingerprint of what the compose page edits (text, audience, schedule), not of what
    runs, pauses and resumes change: a page that edits a fingerprint that moved on would
    undo an edit it never showed."""
    # From the membership table alone (its unique index, in order): joined to the
    # conversations, an unanalyzed table was read whole for it (docs/performance.md, note 30).
    listed = Announcement.conversations.through.objects.filter(announcement=announcement)
    members = listed.order_by("conversation_id").values_list("conversation_id", flat=True)
    return _fingerprint(
        announcement.bot_id,
        announcement.title,
        announcement.body,
        announcement.audience,
        announcement.audience_search,
        announcement.saved_audience_id,
        announcement.schedule_kind,
        announcement.schedule,
        announcement.timezone,
        list(members),
    )


def _draft_version(draft: "Draft", body: dict) -> str:
    """edited_version() of the announcement once `draft` is saved."""
    listed = draft.audience == Announcement.Audience.LISTED
    return _fingerprint(
        draft.bot.pk,
        draft.title,
        body,
        draft.audience,
        "" if listed else draft.audience_search,
        draft.saved_audience.pk if listed and draft.saved_audience else None,
        draft.kind,
        draft.schedule,
        draft.timezone,
        sorted(_bots_conversations(draft.bot, draft.conversation_ids)) if listed else [],
    )


def _fingerprint(*edited) -> str:
    text = json.dumps(edited, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class AlreadySaved(Exception):
    """The compose page that asked to create an announcement already made one (posted
    twice): `announcement` is it, left as it was."""

    def __init__(self, announcement: Announcement):
        super().__init__(announcement.pk)
        self.announcement = announcement


def checked_schedule(
    kind: str, spec: dict, tz_name: str, as_draft: bool, now: datetime
) -> Schedule:
    """The schedule, or ScheduleError; one to send (not a draft) must have a run left."""
    schedule = parse(kind, spec, tz_name)
    if not as_draft and schedule.at is not None and schedule.at < now - timedelta(minutes=1):
        raise ScheduleError(_("That time has passed; choose a time in the future."))
    if not as_draft and schedule.kind in RECURRING and schedule.first_run(now) is None:
        # Only an end date can leave a recurring schedule without runs.
        raise ScheduleError(
            _("No run is left before the end date %(until)s; choose a later end date.")
            % {"until": schedule.until.isoformat() if schedule.until else ""}
        )
    return schedule


def save_announcement(
    user, draft: Draft, *, as_draft: bool, announcement: Announcement | None = None
) -> Announcement:
    """Create or edit an announcement. Raises ApiError (body) or ScheduleError (when), and
    AlreadySaved for a compose page (`draft.submission`) that has made one already."""
    body = validate_outbound(draft.bot, draft.body)
    now = timezone.now()
    schedule = checked_schedule(draft.kind, draft.schedule, draft.timezone, as_draft, now)
    submission = draft.submission if announcement is None else ""
    if submission:
        _raise_if_saved(submission)
    try:
        return _write(
            user, draft, announcement, body=body, schedule=schedule, as_draft=as_draft, now=now
        )
    except IntegrityError:
        # The same page posted twice at once: the other post made it (the unique constraint).
        if submission:
            _raise_if_saved(submission)
        raise


def saved_from(submission: str) -> Announcement | None:
    """The announcement the compose page `submission` made, if it made one."""
    if not submission:
        return None
    return Announcement.objects.filter(submission=submission).first()


def _raise_if_saved(submission: str) -> None:
    made = saved_from(submission)
    if made is not None:
        raise AlreadySaved(made)


def _write(
    user,
    draft: Draft,
    announcement: Announcement | None,
    *,
    body: dict,
    schedule: Schedule,
    as_draft: bool,
    now: datetime,
) -> Announcement:
    creating = announcement is None
    with transaction.atomic():
        if creating:
            announcement = Announcement(
                created_by=user,
                created_by_label=user.get_username()[:150],
                submission=draft.submission,
            )
        else:
            # Locked: a tick skips it meanwhile, and a run started before is seen here.
            announcement = Announcement.objects.select_for_update().get(pk=announcement.pk)
            if not announcement.is_editable:
                raise NotEditableError(NOT_EDITABLE)
            if as_draft and announcement.status == Announcement.Status.PAUSED:
                raise NotEditableError(PAUSED_STAYS_PAUSED)
            if draft.edited_version:
                _raise_if_edited_meanwhile(announcement, draft, body)
        before = None if creating else snapshot(announcement)
        announcement.bot = draft.bot
        announcement.title = draft.title
        announcement.msgtype = body["msgtype"]
        announcement.body = body
        announcement.search_text = search_text(body)
        listed = draft.audience == Announcement.Audience.LISTED
        announcement.audience = draft.audience
        announcement.audience_search = "" if listed else draft.audience_search
        announcement.saved_audience = draft.saved_audience if listed else None
        announcement.schedule_kind = draft.kind
        announcement.schedule = draft.schedule
        announcement.timezone = draft.timezone
        if as_draft:
            announcement.status = Announcement.Status.DRAFT
            announcement.next_run_at = None
        else:
            due = (
                announcement.next_run_at
                if announcement.status == Announcement.Status.ACTIVE
                else None
            )
            # A paused one stays paused: its next run is the edited schedule's, once resumed.
            if announcement.status != Announcement.Status.PAUSED:
                announcement.status = Announcement.Status.ACTIVE
            announcement.next_run_at = _next_run(schedule, due, now)
        announcement.save()
        replace_members(
            announcement.conversations,
            _bots_conversations(draft.bot, draft.conversation_ids) if listed else [],
        )
        record_action(
            user,
            "announcement.create" if creating else "announcement.edit",
            bot=draft.bot,
            target=announcement,
            summary=announcement.title,
            details={
                "status": announcement.status,
                "when": draft.kind,
                "schedule": draft.schedule,
                "timezone": draft.timezone,
                "audience": draft.audience,
                # What the edit changed, each field before and after (the text included).
                **({} if before is None else {"changes": changes(before, snapshot(announcement))}),
            },
        )
        active = announcement.status == Announcement.Status.ACTIVE
        if active and announcement.next_run_at and announcement.next_run_at <= now:
            tick_on_commit()
    return announcement


def _next_run(schedule: Schedule, due: datetime | None, now: datetime) -> datetime:
    """The edited schedule's first run. A recurring run that is due but not started yet
    (the scheduler's next tick, or one it is behind on) stays due if the edited schedule
    still has it: saving a corrected text at 09:00:03 sends the 09:00 run with it rather
    than skipping it to tomorrow."""
    if (
        due is not None
        and due <= now
        and schedule.kind in RECURRING
        and schedule.next_after(due - timedelta(microseconds=1)) == due
    ):
        return due
    return schedule.first_run(now)  # a time: checked_schedule


def _raise_if_edited_meanwhile(announcement: Announcement, draft: Draft, body: dict) -> None:
    """EditedMeanwhile when the announcement is no longer what the page showed, unless it
    already is what the page posts (the same page posted twice: a double click)."""
    current = edited_version(announcement)
    if draft.edited_version != current and _draft_version(draft, body) != current:
        raise EditedMeanwhile(current)


class NotADraft(Exception):
    """Sending a draft was asked of an announcement that is no longer one."""


class NoRecipients(Exception):
    """None of the announcement's recipients is an active conversation now."""


def send_draft(user, announcement: Announcement) -> Announcement:
    """Send or schedule a draft as it stands, checked as the compose page's send is: its
    body, a time not passed (or a run left), and someone to send to. Raises NotADraft,
    ApiError (body), ScheduleError (when) or NoRecipients."""
    with transaction.atomic():
        announcement = Announcement.objects.select_for_update().get(pk=announcement.pk)
        if announcement.status != Announcement.Status.DRAFT:
            raise NotADraft
        validate_outbound(announcement.bot, announcement.body)
        now = timezone.now()
        schedule = checked_schedule(
            announcement.schedule_kind,
            announcement.schedule,
            announcement.timezone,
            False,
            now,
        )
        if not recipients_now(announcement).exists():
            raise NoRecipients
        announcement.status = Announcement.Status.ACTIVE
        announcement.next_run_at = schedule.first_run(now)
        announcement.save(update_fields=["status", "next_run_at", "updated_at"])
        record_action(
            user,
            "announcement.send_draft",
            bot=announcement.bot,
            target=announcement,
            details={"when": announcement.schedule_kind, "audience": announcement.audience},
        )
        if announcement.next_run_at and announcement.next_run_at <= now:
            tick_on_commit()
    return announcement


def _bots_conversations(bot: Bot, ids: list[int]) -> list[int]:
    """Those of `ids` that are the bot's conversations."""
    found = []
    for chunk in chunked(ids):
        found += (
            Conversation.objects.filter(bot=bot, pk__in=chunk)
            .order_by()
            .values_list("pk", flat=True)
        )
    return found


def save_audience(user, bot: Bot, name: str, conversation_ids: list[int]) -> SavedAudience:
    """Create or replace the bot's saved audience called `name`."""
    with transaction.atomic():
        audience, created = SavedAudience.objects.get_or_create(
            bot=bot, name=name, defaults={"created_by": user}
        )
        replace_members(audience.conversations, _bots_conversations(bot, conversation_ids))
        record_action(
            user,
            "audience.create" if created else "audience.edit",
            bot=bot,
            target=audience,
            summary=name,
            details={"conversations": len(conversation_ids)},
        )
    return audience
