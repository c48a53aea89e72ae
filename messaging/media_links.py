"""Signed links to archived media, and the view that serves them without a login.

A link names one media row, signed with the SECRET_KEY (`django.core.signing`;
one signed with a key of SECRET_KEY_FALLBACKS still opens, so rotating the key keeps
links already forwarded) and valid BOTADMIN_MEDIA_LINK_DAYS: forwarded bodies carry it as `url`
(bridge spec section 7), and the console's history uses the same links. A
modified link answers 403, an expired one 410, media no longer stored 404.
Files go out with `Content-Disposition` and `X-Content-Type-Options: nosniff`:
only images recognised by their bytes are shown inline, anything else is a
download, so no upload can become a page of this site.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from connectors.wecom_aibot_frames import mixed_image_reference
from media import store
from media.models import StoredFile

from .models import Message, MessageMedia

SALT = "botadmin.media-link"
THUMBNAIL = "t"
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"})
FILE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
# A name is stored as its source gave it (a callback's `filename`); a header holds no line break.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def link_token(media_id: int, variant: str = "") -> str:
    return signing.dumps([media_id, variant] if variant else media_id, salt=SALT, compress=False)


def media_path(media_id: int, variant: str = "") -> str:
    return reverse("media_link", args=[link_token(media_id, variant)])


def media_url(media_id: int) -> str:
    """The absolute signed link a receiver outside botadmin can open."""
    return settings.BOTADMIN_PUBLIC_URL + media_path(media_id)


def media_fields(message: Message) -> dict | None:
    """`url`, `content_type`, `size`, `sha256` of the message's stored media (and `name`,
    the file's name, when its source gave one), or None.

    Uses `message.media` when it was prefetched (with `stored_file`, in id order):
    the forwarding engine does so for a whole batch in one query."""
    rows = _stored_media(message)
    return _fields(rows[0]) if rows else None


def _stored_media(message: Message) -> list[MessageMedia]:
    """The message's stored media rows with their files, in id order."""
    if "media" in getattr(message, "_prefetched_objects_cache", {}):
        stored = [m for m in message.media.all() if m.status == MessageMedia.Status.STORED]
    else:
        stored = list(
            MessageMedia.objects.filter(message=message, status=MessageMedia.Status.STORED)
            .select_related("stored_file")
            .order_by("pk")
        )
    return [row for row in stored if row.stored_file is not None]


def _fields(row: MessageMedia) -> dict:
    stored = row.stored_file
    fields = {
        "url": media_url(row.pk),
        "content_type": stored.content_type,
        "size": stored.size,
        "sha256": stored.sha256,
    }
    if row.original_name:  # e.g. an AI bot file's, from its download's Content-Disposition
        fields["name"] = row.original_name
    return fields


def with_media_fields(message: Message, body: dict) -> dict:
    """The forwarded body: the msgtype object gains the archive's fields, beside its own;
    so does each image of an AI bot's `mixed` message (`_with_mixed_media_fields`)."""
    part = body.get(message.msgtype)
    if not isinstance(part, dict) or "cdn" not in part:
        return _with_mixed_media_fields(message, body)
    fields = media_fields(message)
    if fields is None:
        return body
    if "name" in part:  # the source's own `name` stays as it came
        fields.pop("name", None)
    return {**body, message.msgtype: {**part, **fields}}


def _with_mixed_media_fields(message: Message, body: dict) -> dict:
    """An AI bot's `mixed` message is forwarded as `text`, its items under `mixed`: each
    image item gains the fields of its archived copy (the media row its reference names,
    connectors.wecom_aibot_frames.mixed_image_reference), as an image message's object does."""
    mixed = body.get("mixed")
    items = mixed.get("msg_item") if isinstance(mixed, dict) else None
    if not isinstance(items, list) or not any(_mixed_image(item) for item in items):
        return body  # nothing archived to link: no query on the forwarding path
    rows = {row.cdn: row for row in _stored_media(message)}
    linked = []
    for item in items:
        image = _mixed_image(item)
        row = rows.get(mixed_image_reference(image)) if image else None
        linked.append({**item, "image": {**image, **_fields(row)}} if row else item)
    return {**body, "mixed": {**mixed, "msg_item": linked}}


def _mixed_image(item) -> dict | None:
    if isinstance(item, dict) and item.get("msgtype") == "image":
        image = item.get("image")
        if isinstance(image, dict) and image.get("url"):
            return image
    return None


def _read_token(token: str) -> tuple[int, str] | HttpResponse:
    max_age = timedelta(days=settings.BOTADMIN_MEDIA_LINK_DAYS)
    try:
        value = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        return _plain(_("This link has expired."), 410)
    except signing.BadSignature:
        return _plain(_("This link is not valid."), 403)
    if isinstance(value, int):
        return value, ""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int):
        return value[0], str(value[1])
    return _plain(_("This link is not valid."), 403)


@require_safe
def serve(request: HttpRequest, token: str) -> HttpResponse:
    """GET /files/<signed token>: the archived bytes (or their thumbnail), no login."""
    read = _read_token(token)
    if isinstance(read, HttpResponse):
        return read
    media_id, variant = read
    row = (
        MessageMedia.objects.filter(pk=media_id, status=MessageMedia.Status.STORED)
        .select_related("stored_file")
        .first()
    )
    if row is None or row.stored_file is None:
        return _plain(_("This media is not stored (any more)."), 404)
    return file_response(row, thumbnail=variant == THUMBNAIL)


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def file_response(row: MessageMedia, thumbnail: bool = False) -> HttpResponse:
    stored: StoredFile = row.stored_file
    small = store.thumbnail(stored) if thumbnail else None
    name = small or stored.name
    content_type = "image/jpeg" if small else stored.content_type
    handle = store.media_storage().open(name, "rb")
    response = FileResponse(handle, content_type=content_type)
    inline = content_type in INLINE_TYPES
    response["Content-Disposition"] = _disposition(inline, download_name(row))
    response["X-Content-Type-Options"] = "nosniff"
    # Nothing served here may run as a page of this site. A picture opened on its own
    # is shown by the browser's image viewer, which styles itself inline.
    response["Content-Security-Policy"] = FILE_POLICY
    # The bytes behind a link never change: its sha256 names them.
    patch_cache_control(response, private=True, max_age=24 * 3600, immutable=True)
    return response


def download_name(row: MessageMedia) -> str:
    if row.original_name:
        return row.original_name
    stored = row.stored_file
    return stored.sha256[:16] + ("." + stored.name.rsplit(".", 1)[-1] if "." in stored.name else "")


def _disposition(inline: bool, name: str) -> str:
    name = CONTROL_CHARACTERS.sub("_", name)
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
