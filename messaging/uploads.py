"""Uploaded media: WeCom's group-robot two-step file flow (shared/spec/wecom.md section 1).

`POST /api/upload_media` (messaging/upload_api.py) checks a file or voice the way
WeCom's `upload_media` does and keeps it (`store_upload`): the bytes in the media
store, an `UploadedMedia` row naming them for the bot with a media_id that lives
UPLOAD_LIFETIME (3 days). `/api/send` then takes `{"file": {"media_id": …}}` (or
voice) for one of the bot's live uploads (`live_upload`, from the validation).

A message accepted with a media_id gets a media row (MessageMedia, `cdn_type`
"upload") linking the stored file, made in the transaction that stores the message
(`stored_file_for`). At delivery `body_to_send` puts the bytes back into the body as
base64 + md5, the form every connector already sends: connectors never read the
database, and a scheduled or retried message is still sendable after its upload
expired, since its media row keeps the stored file (PROTECT). Expired uploads are
deleted every BOTADMIN_UPLOAD_CLEANUP_INTERVAL seconds (`delete_expired_uploads`, a
beat entry); their files go with them unless a message or another upload still
shows them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin.errors import Err
from botadmin.reasons import Reason
from connectors import conversions
from connectors.base import MEDIA_MIN_BYTES, media_word
from connectors.filenames import safe_file_name
from connectors.registry import connector_for
from connectors.voice import amr_seconds, is_amr
from conversations.models import Bot
from media import store

from .media_retention import delete_unused_files
from .models import UPLOAD_LIFETIME, Message, MessageMedia, UploadedMedia

logger = logging.getLogger(__name__)

KINDS = tuple(UploadedMedia.Kind.values)  # file, voice: WeCom's upload types
# MessageMedia.cdn_type of a message's uploaded media; `cdn` is the media_id.
UPLOAD_CDN_TYPE = "upload"
_NAME_UNSAFE = dict.fromkeys(map(ord, '/\\"'), "_")


class UploadGone(Exception):
    """A message's uploaded media is no longer in the store: sending it cannot work."""


# --- Uploading ------------------------------------------------------------------------


def max_bytes(bot: Bot, kind: str) -> int:
    """The largest upload of `kind` this bot's connector sends (and the store keeps)."""
    limits = connector_for(bot).limits
    return min(limits.file if kind == "file" else limits.voice, store.max_bytes())


def check_sendable(bot: Bot, kind: str) -> None:
    """Refuse an upload of a kind the bot could never send, as /api/send would (40008)."""
    if kind not in KINDS:
        raise Err.INVALID_MEDIA_TYPE.error("invalid media type: type must be file or voice")
    if not bot.is_active:
        raise Err.BOT_INACTIVE.error()
    connector = connector_for(bot)
    if conversions.route(type(connector), kind, connector.msgtypes()) is None:
        raise Err.INVALID_MSGTYPE.error(
            f"msgtype {kind} cannot be sent by a {connector.english_label()} bot; "
            f"it sends {', '.join(sorted(connector.msgtypes()))}"
        )


def check_size(bot: Bot, kind: str, size: int) -> None:
    if size < MEDIA_MIN_BYTES:
        raise Err.INVALID_FILE_SIZE.error(f"invalid file size: at least {MEDIA_MIN_BYTES} bytes")
    limit = max_bytes(bot, kind)
    if size > limit:
        raise Err.FILE_TOO_LARGE.error(f"invalid file size: a {kind} is at most {limit} bytes")


def check_content(bot: Bot, kind: str, content: bytes) -> None:
    """What WeCom checks of the bytes: the size, and a voice's format and length."""
    check_size(bot, kind, len(content))
    if kind != "voice":
        return
    if not is_amr(content):
        raise Err.MEDIA_NOT_AMR.error("invalid media type: voice must be AMR (starting #!AMR)")
    seconds = connector_for(bot).limits.voice_seconds
    if seconds and amr_seconds(content, seconds) > seconds:
        raise Err.INVALID_FILE_SIZE.error(f"invalid file size: voice longer than {seconds:g} s")


def safe_name(name: str, kind: str) -> str:
    """The file name recipients see: no path separators (an _ instead), quotes, control or
    format characters; at most 255 UTF-8 bytes, cut before its extension."""
    name = safe_file_name((name or "").translate(_NAME_UNSAFE))
    return name or ("voice.amr" if kind == "voice" else "file")


def store_upload(bot: Bot, kind: str, name: str, content: bytes) -> UploadedMedia:
    """Keep checked bytes for `bot` under a new media_id (raises ApiError for bad ones)."""
    check_content(bot, kind, content)
    put = store.put_bytes(content)  # outside the transaction: a slow bucket holds no lock
    now = timezone.now()
    with transaction.atomic():
        upload = UploadedMedia.objects.create(
            bot=bot,
            kind=kind,
            name=safe_name(name, kind),
            size=len(content),
            md5=hashlib.md5(content).hexdigest(),  # noqa: S324 (WeCom's checksum)
            stored_file_id=put.row_id(),
            created_at=now,
            expires_at=now + UPLOAD_LIFETIME,
        )
    # The cleanup may have deleted these bytes between the write and the row that now
    # protects them (an expired upload of the same file): write them again then.
    if not store.media_storage().exists(put.name):
        store.put_bytes(content)
    return upload


# --- Sending ----------------------------------------------------------------------------


def live_upload(bot: Bot, media_id: str, kind: str) -> UploadedMedia:
    """The bot's upload of `kind` named `media_id`, if not expired; else 40007."""
    upload = UploadedMedia.objects.filter(
        bot=bot, media_id=media_id, expires_at__gt=timezone.now()
    ).first()
    if upload is None:
        raise Err.INVALID_MEDIA_ID.error(
            "invalid media_id: no upload of this bot has it, or it expired (3 days)"
        )
    if upload.kind != kind:
        raise Err.INVALID_MEDIA_ID.error(
            f"invalid media_id: it was uploaded as type {upload.kind}, not {kind}"
        )
    return upload


def upload_reference(message: Message) -> dict | None:
    """The media row reference of a file or voice sent by a media_id, else None."""
    payload = message.body.get(message.msgtype) if message.msgtype in KINDS else None
    if not isinstance(payload, dict) or not payload.get("media_id"):
        return None
    return {
        "kind": message.msgtype,
        "cdn_type": UPLOAD_CDN_TYPE,
        "cdn": payload["media_id"],
        "original_name": str(payload.get("name") or "")[:255],
    }


def stored_file_for(bot_id: int, media_id: str) -> int:
    """The stored file of an upload, for a message accepting it (in its transaction)."""
    file_id = (
        UploadedMedia.objects.filter(bot_id=bot_id, media_id=media_id)
        .values_list("stored_file_id", flat=True)
        .first()
    )
    if file_id is None:  # deleted since the validation found it
        raise Err.INVALID_MEDIA_ID.error("invalid media_id: the upload expired")
    return file_id


def body_to_send(message: Message) -> dict:
    """The body to hand to the connector: a media_id replaced by the upload's bytes.

    Raises UploadGone when the stored copy is gone (the media retention took it), the
    storage's own error when it cannot be read (nothing was sent: a retry may work).
    """
    body = message.body
    reference = upload_reference(message)
    if reference is None:
        return body
    row = (
        MessageMedia.objects.filter(message_id=message.pk, cdn_type=UPLOAD_CDN_TYPE)
        .select_related("stored_file")
        .first()
    )
    if row is None or row.stored_file is None:
        gone = gettext_noop("the uploaded %(msgtype)s is no longer stored")
        # The kind as a word ("file" reads 文件 in Chinese), not the API's code.
        raise UploadGone(Reason(gone, msgtype=media_word(message.msgtype)))
    content = store.read(row.stored_file)
    payload = {key: value for key, value in body[message.msgtype].items() if key != "media_id"}
    payload["base64"] = base64.b64encode(content).decode("ascii")
    payload["md5"] = hashlib.md5(content).hexdigest()  # noqa: S324 (WeCom's checksum)
    return {**body, message.msgtype: payload}


# --- Cleaning up --------------------------------------------------------------------


def delete_expired_uploads(now: datetime | None = None, batch: int = 500) -> int:
    """Delete uploads past their 3 days, and their files where nothing else shows them.

    Safe to run twice or side by side: a row is deleted once, and a file a message
    (or another upload) took meanwhile stays (PROTECT).
    """
    now = now or timezone.now()
    deleted = 0
    while True:
        rows = list(
            UploadedMedia.objects.filter(expires_at__lte=now)
            .order_by("expires_at")
            .values_list("pk", "stored_file_id")[:batch]
        )
        if not rows:
            break
        UploadedMedia.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
        delete_unused_files({file_id for _, file_id in rows})
        deleted += len(rows)
    if deleted:
        logger.info("Uploads: %d expired uploads deleted", deleted)
    return deleted
