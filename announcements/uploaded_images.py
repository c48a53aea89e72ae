"""Images uploaded on the compose page (MEDIA_ROOT/announcements/) that nothing refers
to any more are deleted nightly, a day after they were stored.

An upload is stored before anything names it: a post shown again to confirm it keeps
the image stored (`staged_images.staged`), and an operator who never confirms leaves it
behind; an edit that replaces the image, or a bot deleted with its announcements,
leaves the old one. An image is still in use while an announcement's body names it
(draft, scheduled, paused or finished: its page shows it), or a message does, made
from an announcement or not (its address pasted into an `/api/send` body): one still
to be sent, however old (the worker downloads it, at each retry too), or one made in
the last MESSAGE_USE (a bridge agent or the media fetcher may download it late, an
operator may retry a failed one). Older messages let go of it, with the message
retention or without: the history shows an image message's archived copy, and any other
picture only as a link it never loads.

A name is recognised wherever a body has it, under any host: a body saved before
BOTADMIN_PUBLIC_URL was used (the operator's host name) keeps its image too.

Messages are read only where they can name a file still in question: those waiting
(msg_status_other_idx) and those made since the oldest such file was stored, at most
MESSAGE_USE ago (msg_bot_log_idx, bot by bot), never the whole message table; nothing
at all on a night with no such file (docs/performance.md, notes 17 and 21).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.core.files.storage import default_storage
from django.utils import timezone

from botadmin.partial_indexes import index_condition
from conversations.models import Bot
from messaging.media_retention import ORPHAN_GRACE
from messaging.models import NOT_SENT_OR_RECEIVED, Message

from .models import Announcement
from .staged_images import STAGED_NAME

logger = logging.getLogger(__name__)

FOLDER = "announcements"
# What the database looks for first (a body's JSON as text), before the names are read.
MARK = f"/{FOLDER}/"
# How long a message made keeps the images it names (one still to be sent keeps them
# until it is sent): a week of late downloads, retries of failed ones, clicks in the history.
MESSAGE_USE = timedelta(days=7)


def delete_unused_images(now: datetime | None = None) -> int:
    """Delete the uploaded images stored more than ORPHAN_GRACE ago that no
    announcement and no message in use names; how many."""
    now = now or timezone.now()
    candidates = _stored_before(now - ORPHAN_GRACE)
    for name in _named_by_announcements():
        candidates.pop(name, None)
    if not candidates:
        return 0
    # No message made before an upload names it (its name is new), but clocks of the
    # web host and the database's writers may differ a little; none made longer than
    # MESSAGE_USE ago keeps it, so an image a message keeps cannot widen this for long.
    since = max(min(candidates.values()) - ORPHAN_GRACE, now - MESSAGE_USE)
    unused = set(candidates) - _named_by_messages(since)
    for name in sorted(unused):
        default_storage.delete(name)
    if unused:
        logger.info("Announcement images: %d that nothing names deleted", len(unused))
    return len(unused)


def _stored_before(before: datetime) -> dict[str, datetime]:
    """Storage name → when it was stored, of the uploads stored before `before`."""
    try:
        _, files = default_storage.listdir(FOLDER)
    except FileNotFoundError:  # nothing was ever uploaded
        return {}
    stored = {}
    for file in files:
        name = f"{FOLDER}/{file}"
        if STAGED_NAME.fullmatch(name):
            modified = default_storage.get_modified_time(name)
            if modified < before:
                stored[name] = modified
    return stored


def _named_by_announcements() -> set[str]:
    bodies = Announcement.objects.filter(body__icontains=MARK).values_list("body", flat=True)
    return _names_in(bodies)


def _named_by_messages(since: datetime) -> set[str]:
    """The names in messages still to be sent, and in those made since `since`."""
    waiting = Message.objects.filter(
        # msg_status_other_idx: the queue, not the history (its condition stated for SQLite).
        index_condition(NOT_SENT_OR_RECEIVED),
        status__in=Message.Status.UNFINISHED,
    )
    # msg_bot_log_idx (bot, -created_at), a range for each bot: the table has no index
    # on the time alone.
    bots = list(Bot.objects.order_by().values_list("pk", flat=True))
    recent = Message.objects.filter(bot__in=bots, created_at__gte=since)
    return _names_in(_bodies(waiting)) | _names_in(_bodies(recent))


def _bodies(messages):
    # An announcement's messages, and a caller's repeated sends, share their body.
    return (
        messages.filter(body__icontains=MARK).order_by().values_list("body", flat=True).distinct()
    )


def _names_in(bodies) -> set[str]:
    # A name wherever the body has it: an image's URL under any host (BOTADMIN_PUBLIC_URL
    # or, saved before it was used, the operator's), a link's picture, a markdown link.
    return {m.group(0) for body in bodies for m in STAGED_NAME.finditer(json.dumps(body))}
