"""Images uploaded on the compose page (MEDIA_ROOT/announcements/) that nothing refers
to any more are deleted nightly, a day after they were stored.

An upload is stored before anything names it: a post shown again to confirm it keeps
the image stored (`forms.staged`), and an operator who never confirms leaves it
behind; an edit that replaces the image, or a bot deleted with its announcements,
leaves the old one. An image is still in use while an announcement's body names it
(draft, scheduled, paused or finished: its page shows it), or a message made from one
does: the history shows it unless archived, and a message waiting or retried is
downloaded by its address (the worker, the media fetcher, a bridge agent).

Messages are read only where they can name the file: those of runs that made a
message since the oldest candidate was stored (a run's `updated_at` moves with each
batch it makes), not the whole message table.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from django.core.files.storage import default_storage
from django.utils import timezone

from messaging.media_retention import ORPHAN_GRACE
from messaging.models import Message

from .forms import STAGED_NAME
from .models import Announcement, AnnouncementRun

logger = logging.getLogger(__name__)

FOLDER = "announcements"
# What the database looks for first (a body's JSON as text), before the names are read.
MARK = f"/{FOLDER}/"


def delete_unused_images(now: datetime | None = None) -> int:
    """Delete the uploaded images stored more than ORPHAN_GRACE ago that no
    announcement and no message names; how many."""
    now = now or timezone.now()
    candidates = _stored_before(now - ORPHAN_GRACE)
    if not candidates:
        return 0
    # Clocks of the web host and the database's writers may differ a little.
    since = min(candidates.values()) - ORPHAN_GRACE
    unused = set(candidates) - _named_by_announcements() - _named_by_messages(since)
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
    # The runs first (a small table), then their messages by msg_run_status_idx: joined,
    # PostgreSQL misjudges the body filter and reads the whole message table.
    runs = list(AnnouncementRun.objects.filter(updated_at__gte=since).values_list("pk", flat=True))
    if not runs:
        return set()
    bodies = (
        Message.objects.filter(announcement_run__in=runs, body__icontains=MARK)
        .order_by()
        .values_list("body", flat=True)
        .distinct()  # a run's messages have its announcement's body
    )
    return _names_in(bodies)


def _names_in(bodies) -> set[str]:
    # A name wherever the body has it (an image's URL under any host, a link's picture).
    return {m.group(0) for body in bodies for m in STAGED_NAME.finditer(json.dumps(body))}
