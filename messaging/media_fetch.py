"""Fetching media into the archive: a worker, right after the message is stored.

A received message's media row starts `pending` with a reference only its
source can resolve; `record_inbound` wakes `tasks.fetch_media` once the message is
committed (never fetching in the request). The worker claims a task's rows in one
short transaction (a lease in `next_attempt_at`, so a dead worker's row comes
back through the sweeper), asks the bot's connector for the bytes
(`Connector.fetch_media`: the bridge agent's `POST /media`, the app's
`media/get`, an AI bot's encrypted URL) and keeps them in the media store: the
files' rows and the media rows a task stored settle in one more commit (at
least every SETTLE_EVERY), with no read first.

* MediaGone (404 from an agent, an expired media_id, too large): failed for
  good, with the reason the console shows.
* Anything else (source busy, media store down): tried again after a growing
  wait, as long as the source keeps media (`Connector.media_lifetime`).

A row that settles (stored or failed) tells messaging's listeners through
`signals.inbound_media_settled`: forwarding holds a media message back until
then, or until BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS have passed
(`media_references.forwardable`). Outbound images are archived through the same
rows, their bytes taken from the accepted body (base64) or its URL. Which messages
carry media and their rows: messaging/media_references.py.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import logging as botadmin_logging
from botadmin import metrics, reasons
from botadmin.reasons import Reason
from connectors.base import ConnectorError, FetchedMedia, MediaGone, MediaRef, too_large
from connectors.downloads import DownloadFailed, download
from connectors.filenames import safe_file_name
from connectors.registry import connector_for
from conversations.refusals import noted
from media import store
from media.sniff import sniff

from .delivery_outcomes import GAVE_UP
from .media_references import wake_on_commit
from .models import Message, MessageMedia
from .outbox import RetrySchedule, lock_due, retry_delay
from .signals import inbound_media_settled

logger = logging.getLogger(__name__)

Status = MessageMedia.Status
# Waits after the 1st, 2nd, … failed fetch (±20 %): 10 s, 30 s, 2 min, 10 min, 30 min,
# 2 h, then every 6 h for as long as the source keeps the media (`_lifetime`).
RETRY_SCHEDULE = RetrySchedule(
    (10.0, 30.0, 120.0, 600.0, 1800.0, 7200.0, 21600.0), jitter=0.2, repeat_last=True
)
# A claimed row belongs to its worker this long; then the sweeper hands it out again.
LEASE = timedelta(minutes=5)
# Retries due this soon ride on the broker's countdown; later ones wait for the sweeper.
WAKE_BY_COUNTDOWN_WITHIN = timedelta(minutes=10)
# The rows a task stored settle together, at least this often: one commit for several
# fetches (on PostgreSQL a commit and its statements cost about as much as fetching and
# storing a 400 KB image from an agent on the same machine).
SETTLE_EVERY = timedelta(seconds=1)
SWEEP_BATCH = 500
# Outbound media (the body's own image) keep their bytes in the message: an hour of tries.
OUTBOUND_LIFETIME = timedelta(hours=1)
# Reasons rows stored before `connectors.downloads` worded them hold: kept so they translate.
EARLIER_REASONS = (
    gettext_noop("image URL refused: %(error)s"),
    gettext_noop("cannot download the image: %(error)s"),
    gettext_noop("image download answered HTTP %(status)s"),
)


# --- One fetch ------------------------------------------------------------------------


def claim(media_ids: list[int], now: datetime) -> list[MessageMedia]:
    """Take the due pending rows of `media_ids` (or those whose worker's lease ran out),
    with what fetching them needs, in one short transaction: rows another worker holds
    are skipped (PostgreSQL: SKIP LOCKED; SQLite: the transaction holds the write lock)."""
    lease_ends = now + LEASE
    with transaction.atomic():
        _redoable()
        rows = _due_rows(media_ids, now)
        if rows:
            MessageMedia.objects.filter(pk__in=[row.pk for row in rows]).update(
                next_attempt_at=lease_ends, attempts=F("attempts") + 1
            )
    for row in rows:
        row.next_attempt_at, row.attempts = lease_ends, row.attempts + 1
    return rows


def _due_rows(media_ids: list[int], now: datetime) -> list[MessageMedia]:
    """The due pending rows, locked (PostgreSQL skips rows another worker holds), each
    with its message, bot and conversation: one query for a task's rows."""
    due = (
        MessageMedia.objects.filter(
            pk__in=media_ids, status=Status.PENDING, next_attempt_at__lte=now
        )
        .select_related("message__bot", "message__conversation")
        .order_by("pk")
    )
    return lock_due(due, limit=len(media_ids))


def fetch(media_id: int) -> str | None:
    """Fetch one due row into the store; its status afterwards, or None when not due."""
    return fetch_many([media_id])[0]


def fetch_many(media_ids: list[int]) -> list[str | None]:
    """Fetch the due rows of `media_ids` (a task's), claimed together; their statuses
    afterwards, None for a row that was not due (or another worker's).

    The claim's lease covers them all: when half of it is gone, the rows not yet tried
    are handed back for another worker, so no row is ever fetched by two at once. Rows
    stored settle together, at least every SETTLE_EVERY.
    """
    now = timezone.now()
    rows = claim(media_ids, now)
    outcomes: dict[int, str | None] = dict.fromkeys(media_ids)
    stored: list[Stored] = []
    for n, row in enumerate(rows):
        started = timezone.now()
        if started - now > LEASE / 2:
            _hand_back(rows[n:], now + LEASE)
            break
        outcomes[row.pk] = _fetch_one(row, started, stored)
        if stored and timezone.now() - stored[0].at >= SETTLE_EVERY:
            _settle_stored(stored)
            stored = []
    _settle_stored(stored)
    return [outcomes[pk] for pk in media_ids]


def _fetch_one(row: MessageMedia, now: datetime, stored: list[Stored]) -> str:
    botadmin_logging.bind(bot=row.message.bot.name, message_id=row.message.msgid)
    outcome = _fetch_claimed(row, now, stored)
    metrics.media_fetch(row.message.bot.connector, outcome)
    return outcome


def _hand_back(rows: list[MessageMedia], lease_ends: datetime) -> None:
    """Claimed rows this worker will not fetch in time: due again at once, their try
    not counted, and a wake-up for them."""
    ids = [row.pk for row in rows]
    MessageMedia.objects.filter(
        pk__in=ids, status=Status.PENDING, next_attempt_at=lease_ends
    ).update(next_attempt_at=timezone.now(), attempts=F("attempts") - 1)
    from .tasks import fetch_media

    fetch_media.delay(ids)


def _fetch_claimed(row: MessageMedia, now: datetime, stored: list[Stored]) -> str:
    """Fetch and store one claimed row: failures settle at once, a stored row joins
    `stored` to settle with the task's others."""
    reused = _reuse(row)
    if reused is not None:
        stored.append(Stored(row, reused, ""))
        return Status.STORED
    try:
        fetched = _fetch_bytes(row)
        if row.kind == "image" and not _is_image(fetched.content):
            not_image = gettext_noop("not an image (%(type)s)")
            raise MediaGone(Reason(not_image, type=_sniffed(fetched.content)))
        put = store.put_bytes(fetched.content)
    except (store.MediaTooLarge, MediaGone) as error:
        _log_detail(row, error)
        return _fail(row, reasons.of(error))
    except ConnectorError as error:
        _log_detail(row, error)
        if error.account_problem:  # the agent refuses the token: the bot's pages say so
            noted(row.message.bot, error.account_problem)
        return _retry(row, reasons.of(error), now)
    except Exception as error:  # the media store itself (a bucket that is down)
        logger.warning("Media store unavailable for media %s", row.pk, exc_info=True)
        unavailable = gettext_noop("media store unavailable: %(error)s")
        return _retry(row, Reason(unavailable, error=botadmin_logging.error_text(error)), now)
    stored.append(Stored(row, put, fetched.name))
    return Status.STORED


def _reuse(row: MessageMedia) -> int | None:
    """The id of the stored copy of the same outbound URL fetched for another message of the
    last hour (an announcement's copies), or None."""
    if row.cdn_type != "url" or row.message.direction != Message.Direction.OUT:
        return None
    return (
        MessageMedia.objects.filter(
            status=Status.STORED,
            created_at__gte=row.created_at - OUTBOUND_LIFETIME,
            cdn_type="url",
            cdn=row.cdn,
        )
        .order_by("pk")
        .values_list("stored_file_id", flat=True)
        .first()
    )


def _fetch_bytes(row: MessageMedia) -> FetchedMedia:
    message = row.message
    limit = store.max_bytes()
    if message.direction == Message.Direction.OUT:
        return _outbound_bytes(row, limit)
    ref = MediaRef(
        msgid=message.upstream_msgid or message.msgid,
        conversation_id=message.conversation.conversation_id,
        msgtype=message.msgtype,
        cdn_type=row.cdn_type,
        cdn=row.cdn,
        fields=dict(message.body.get(message.msgtype) or {}),
    )
    fetched = connector_for(message.bot).fetch_media(ref, limit)
    noted(message.bot, "")  # the source took the bot's credentials
    return fetched


def _outbound_bytes(row: MessageMedia, limit: int) -> FetchedMedia:
    image = row.message.body.get("image") or {}
    if row.cdn_type == "base64":
        try:
            return FetchedMedia(base64.b64decode(image.get("base64", ""), validate=True))
        except (binascii.Error, ValueError):
            raise MediaGone(Reason(gettext_noop("image.base64 is not base64"))) from None
    try:
        response = download(row.cdn, limit, "image")
    except DownloadFailed as failed:
        # As a send of the image fails (a host name that does not exist: for good), but
        # over the archive's limit rather than WeCom's.
        reason = too_large(limit) if failed.oversize else failed.reason
        raise (ConnectorError if failed.again else MediaGone)(reason) from None
    return FetchedMedia(response.content, response.headers.get("Content-Type", ""))


def _is_image(content: bytes) -> bool:
    return _sniffed(content).startswith("image/")


def _sniffed(content: bytes) -> str:
    return sniff(content)[0]


@dataclass
class Stored:
    """A row whose bytes are in the store (`file`: what was put, or the id of a stored
    file it reuses), waiting to settle with the task's others."""

    row: MessageMedia
    file: store.Put | int
    name: str  # the source's file name
    at: datetime = field(default_factory=timezone.now)


def _settle_stored(stored: list[Stored]) -> None:
    """One commit for rows stored: their files' rows (made or found), the media rows
    linked to them, their messages' `updated_at`."""
    if not stored:
        return
    now = timezone.now()
    with transaction.atomic():
        _redoable()
        file_ids = store.row_ids([s.file for s in stored if isinstance(s.file, store.Put)])
        rows = [s.row for s in stored]
        for s in stored:
            s.row.stored_file_id = (
                file_ids[s.file.sha256] if isinstance(s.file, store.Put) else s.file
            )
            if s.name and not s.row.original_name:
                s.row.original_name = safe_file_name(s.name)
        MessageMedia.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Status.STORED, stored_at=now, error="", next_attempt_at=None
        )
        # Django's bulk_update costs per row and field: only the two that differ.
        MessageMedia.objects.bulk_update(rows, ["stored_file_id", "original_name"])
        # The history's bubble shows the media: it changed.
        Message.objects.filter(pk__in=[row.message_id for row in rows]).update(updated_at=now)
        received = [row.message_id for row in rows if row.message.direction == Message.Direction.IN]
        if received:
            transaction.on_commit(partial(_send_settled, received))


def _log_detail(row: MessageMedia, error: Exception) -> None:
    """What the source answered, which the media's error (shown to operators) leaves out."""
    if detail := getattr(error, "detail", ""):
        logger.info("Fetching media %s: %s; the source answered: %s", row.pk, error, detail)


def _fail(row: MessageMedia, reason: str) -> str:
    reason = reasons.shorten(reason, 1000)
    _settle(row, {"status": Status.FAILED, "error": reason, "next_attempt_at": None})
    return Status.FAILED


def _retry(row: MessageMedia, reason: str, now: datetime) -> str:
    delay = timedelta(seconds=retry_delay(RETRY_SCHEDULE, max(row.attempts, 1)))
    if now + delay > row.created_at + _lifetime(row):
        return _fail(row, Reason(GAVE_UP, count=row.attempts, reason=reason))
    MessageMedia.objects.filter(pk=row.pk, status=Status.PENDING).update(
        next_attempt_at=now + delay, error=reasons.shorten(reason, 1000)
    )
    if delay <= WAKE_BY_COUNTDOWN_WITHIN:
        from .tasks import fetch_media

        fetch_media.apply_async([[row.pk]], countdown=delay.total_seconds())
    return Status.PENDING


def _lifetime(row: MessageMedia) -> timedelta:
    if row.message.direction == Message.Direction.OUT:
        return OUTBOUND_LIFETIME
    return connector_for(row.message.bot).media_lifetime


def _settle(row: MessageMedia, fields: dict) -> None:
    """One commit: the media row's new state, the message's `updated_at`."""
    with transaction.atomic():
        _redoable()
        MessageMedia.objects.filter(pk=row.pk).update(**fields)
        # The history's bubble shows the media: it changed.
        Message.objects.filter(pk=row.message_id).update(updated_at=timezone.now())
        if row.message.direction == Message.Direction.IN:
            transaction.on_commit(partial(_send_settled, [row.message_id]))


def _redoable() -> None:
    """In a fetch's claim or settle: PostgreSQL may answer the commit before its WAL is on
    disk (a flush cost 5–18 ms a commit on a busy disk, more than fetching and storing a
    400 KB image). Losing the last of these commits in a crash is safe: the row is
    pending again and fetched again (the sweeper finds it once its lease ends, the bytes
    are found in the store), and links name the media row, which stays. SQLite commits
    so already (WAL with synchronous=NORMAL, botadmin/settings.py)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _send_settled(message_ids: list[int]) -> None:
    inbound_media_settled.send_robust(sender=MessageMedia, message_ids=message_ids)


# --- Operators and the sweeper --------------------------------------------------------


def fetch_again(row: MessageMedia) -> bool:
    """An operator's "fetch again": a failed row is pending once more, from a fresh start."""
    with transaction.atomic():
        changed = MessageMedia.objects.filter(pk=row.pk, status=Status.FAILED).update(
            status=Status.PENDING, attempts=0, error="", next_attempt_at=timezone.now()
        )
        if changed:
            Message.objects.filter(pk=row.message_id).update(updated_at=timezone.now())
            wake_on_commit([row])
    return bool(changed)


def due_media(limit: int = SWEEP_BATCH) -> list[int]:
    """Pending rows due now (a retry, a lost wake-up or a dead worker's lease)."""
    return list(
        MessageMedia.objects.filter(status=Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
