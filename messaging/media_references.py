"""Which messages carry media for the archive, and their media rows.

A received body names its media by a reference only its source can resolve
(`inbound_reference`: its msgtype object's `cdn_type` and `cdn`); an outbound image
comes from the accepted body (base64) or its URL, or a file or voice sent by media_id
shows its upload's stored file (`outbound_media_reference`). The rows are made in the
transaction storing or accepting the message, `pending`, and the fetch worker
(messaging/media_fetch.py) is woken once it commits. Forwarding holds a message back
while its media are still being fetched (`forwardable`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from connectors.filenames import safe_file_name

from . import uploads
from .models import Message, MessageMedia

Status = MessageMedia.Status


def inbound_reference(msgtype: str, body: dict) -> dict | None:
    """The media reference of a received body: its msgtype object's `cdn_type` and `cdn`."""
    part = body.get(msgtype)
    if not isinstance(part, dict):
        return None
    cdn_type, cdn = part.get("cdn_type"), part.get("cdn")
    if not (isinstance(cdn_type, str) and isinstance(cdn, str) and cdn):
        return None
    name = part.get("filename") or part.get("name") or part.get("file_name") or ""
    return {
        "kind": msgtype[:16],
        "cdn_type": cdn_type[:64],
        "cdn": cdn,
        "original_name": safe_file_name(name) if isinstance(name, str) else "",
    }


def add_inbound_media(message: Message, more: list[dict] | None = None) -> list[MessageMedia]:
    """Inside the transaction storing `message`: its media rows (its msgtype's object, then
    `more` references: a `mixed` message's images), fetched once committed."""
    reference = inbound_reference(message.msgtype, message.body)
    references = ([reference] if reference else []) + (more or [])
    now = timezone.now()
    rows = [
        MessageMedia.objects.create(
            message=message, status=Status.PENDING, next_attempt_at=now, **reference
        )
        for reference in references
    ]
    if rows:
        wake_on_commit(rows)
    return rows


def add_outbound_media(messages: list[Message]) -> list[MessageMedia]:
    """Inside the transaction accepting `messages`: archive their image (base64 or URL).

    One row per message, fetched by workers once committed. An announcement's
    10,000 copies of one image are one stored file, and a URL already fetched
    for an earlier copy is not downloaded again (`_reuse`).
    """
    now = timezone.now()
    rows = []
    uploaded: dict[str, int] = {}  # media_id → stored file, looked up once per upload
    for message in messages:
        reference = outbound_media_reference(message)
        if reference is None:
            continue
        if reference["cdn_type"] == uploads.UPLOAD_CDN_TYPE:  # stored already: linked
            media_id = reference["cdn"]
            if media_id not in uploaded:
                uploaded[media_id] = uploads.stored_file_for(message.bot_id, media_id)
            rows.append(
                MessageMedia(
                    message=message,
                    status=Status.STORED,
                    stored_file_id=uploaded[media_id],
                    stored_at=now,
                    **reference,
                )
            )
            continue
        rows.append(
            MessageMedia(message=message, status=Status.PENDING, next_attempt_at=now, **reference)
        )
    if not rows:
        return []
    created = MessageMedia.objects.bulk_create(rows)
    from .tasks import IDS_PER_TASK, fetch_media

    ids = [row.pk for row in created if row.status == Status.PENDING]
    for start in range(0, len(ids), IDS_PER_TASK):
        fetch_media.delay_on_commit(ids[start : start + IDS_PER_TASK])
    return created


def outbound_media_reference(message: Message) -> dict | None:
    """Where an outbound message's image comes from, when it has one to archive (or the
    upload whose stored file a file or voice sent by media_id shows)."""
    if (upload := uploads.upload_reference(message)) is not None:
        return upload
    image = message.body.get("image") if message.msgtype == "image" else None
    if not isinstance(image, dict):
        return None
    if image.get("base64"):
        cdn_type, cdn = "base64", ""
    elif isinstance(image.get("url"), str) and image["url"]:
        cdn_type, cdn = "url", image["url"]
    else:
        return None
    return {"kind": "image", "cdn_type": cdn_type, "cdn": cdn}


def wake_on_commit(rows: list[MessageMedia]) -> None:
    from .tasks import fetch_media  # the tasks import this module

    fetch_media.delay_on_commit([row.pk for row in rows])


# --- Forwarding waits for it ------------------------------------------------------


def forwardable(messages: QuerySet, now: datetime | None = None) -> QuerySet:
    """Those of `messages` that may be forwarded now: no media still being fetched, or
    waited for BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS already."""
    now = now or timezone.now()
    waited = now - timedelta(seconds=settings.BOTADMIN_MEDIA_FORWARD_WAIT_SECONDS)
    fetching = MessageMedia.objects.filter(message=OuterRef("pk"), status=Status.PENDING)
    return messages.filter(Q(created_at__lte=waited) | ~Exists(fetching))
