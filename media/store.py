"""The media store: files kept once by their SHA-256, behind Django's storage API.

`store_bytes(content)` is the one way in, for every source (an agent's
`/media`, WeCom's `media/get`, an AI bot's decrypted download, an outbound
image): it checks the size limit, recognises the type from the bytes, writes
the file unless the same bytes are there already, and returns the `StoredFile`
row. An image's thumbnail is made once, when first shown (`thumbnail`), and
kept beside it. The storage is
`STORAGES["media"]`: a folder under var/ by default, an S3-compatible bucket
when BOTADMIN_MEDIA_S3_BUCKET is set (docs/media.md).

A storage that fails (a bucket that is down) raises from here; callers that
fetch keep their reference and try again later, so nothing is lost.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db.models import ProtectedError
from django.utils.translation import gettext_noop

from botadmin.reasons import Reason

from .models import StoredFile
from .sniff import sniff

logger = logging.getLogger(__name__)

STORAGE_ALIAS = "media"
THUMBNAIL_SIZE = (320, 320)
# Pillow refuses to decode more pixels than this (decompression bombs): no thumbnail then.
MAX_THUMBNAIL_PIXELS = 50_000_000
NO_THUMBNAIL = "-"  # StoredFile.thumbnail of an image Pillow cannot read


class MediaTooLarge(ValueError):
    """More bytes than BOTADMIN_MEDIA_MAX_BYTES."""


def media_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def max_bytes() -> int:
    return settings.BOTADMIN_MEDIA_MAX_BYTES


def check_size(size: int) -> None:
    if size > max_bytes():
        too_large = gettext_noop("larger than the %(limit)s bytes media limit")
        raise MediaTooLarge(Reason(too_large, limit=max_bytes()))


@dataclass
class Put:
    """Bytes written to the store (or found there), before their row is known to exist."""

    sha256: str
    size: int
    content_type: str
    name: str
    width: int | None = None
    height: int | None = None

    def row_id(self) -> int:
        """The id of the StoredFile row, made if need be (see `row_ids`)."""
        return row_ids([self])[self.sha256]

    def row(self) -> StoredFile:
        """The StoredFile row (created if need be)."""
        return StoredFile.objects.get(pk=self.row_id())


def row_ids(puts: list[Put]) -> dict[str, int]:
    """The ids of these bytes' StoredFile rows by SHA-256, made if need be, in one
    statement: an INSERT that a row already there (another writer's; one still
    committing is waited for) turns into a no-op update returning its id. Inside the
    caller's transaction, if any: a fetch records the rows and their use in one commit."""
    rows = [
        StoredFile(
            sha256=put.sha256,
            size=put.size,
            content_type=put.content_type,
            name=put.name,
            width=put.width,
            height=put.height,
        )
        for put in {put.sha256: put for put in puts}.values()  # one row may be upserted once
    ]
    StoredFile.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["sha256"], update_fields=["sha256"]
    )
    if any(row.pk is None for row in rows):  # no ids from an upsert (SQLite < 3.35)
        return dict(
            StoredFile.objects.filter(sha256__in=[row.sha256 for row in rows]).values_list(
                "sha256", "pk"
            )
        )
    return {row.sha256: row.pk for row in rows}


def store_bytes(content: bytes) -> StoredFile:
    """Keep these bytes in the media store (once); the row that names them.

    Raises MediaTooLarge, or the storage's own error when it cannot be written.
    Safe side by side: two writers of the same bytes end with one row.
    """
    return put_bytes(content).row()


def put_bytes(content: bytes) -> Put:
    """Write the bytes (unless there already) outside any transaction: the row comes
    after (`Put.row_id`), so a slow bucket never holds a database lock.

    Asks no database: the name is the content's address (its SHA-256 and the extension of
    its sniffed type), so the store itself says whether these bytes are kept already,
    and bytes lost from it are written again.
    """
    check_size(len(content))
    digest = hashlib.sha256(content).hexdigest()
    content_type, extension = sniff(content)
    name = _write(media_storage(), f"{digest[:2]}/{digest[2:4]}/{digest}{extension}", content)
    width, height = _dimensions(content) if content_type.startswith("image/") else (None, None)
    return Put(digest, len(content), content_type, name, width, height)


def thumbnail(stored: StoredFile) -> str | None:
    """The name of the image's thumbnail, made once (on first need) beside it; None when
    it is no image Pillow can read.

    Not made while storing: decoding a large photo costs more than fetching and
    storing it, and most archived images are never looked at.
    """
    if stored.thumbnail:
        return None if stored.thumbnail == NO_THUMBNAIL else stored.thumbnail
    if not stored.is_image:
        return None
    storage = media_storage()
    made = _thumbnail(read(stored))
    name = NO_THUMBNAIL
    if made is not None:
        name = _write(storage, stored.name.rsplit(".", 1)[0] + ".thumb.jpg", made)
    StoredFile.objects.filter(pk=stored.pk).update(thumbnail=name)
    stored.thumbnail = name
    return None if name == NO_THUMBNAIL else name


def _write(storage: Storage, name: str, content: bytes) -> str:
    """Write unless present. Names are content addresses, so an existing file is these bytes."""
    if storage.exists(name):
        return name
    saved = storage.save(name, ContentFile(content))
    if saved != name:
        # A concurrent writer won the name and the storage picked another: keep one copy.
        storage.delete(saved)
    return name


def _dimensions(content: bytes) -> tuple[int | None, int | None]:
    """Width and height from the image's header (nothing is decoded)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(content)) as image:
            return image.size
    except Exception:  # not readable: stored all the same, shown as a file
        return None, None


def _thumbnail(content: bytes) -> bytes | None:
    """JPEG bytes of a small copy, or None when Pillow cannot read it."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as image:
                if image.width * image.height > MAX_THUMBNAIL_PIXELS:
                    return None
                # JPEG decodes at 1/2, 1/4 or 1/8 scale: a large photo's thumbnail in a few ms.
                image.draft("RGB", (THUMBNAIL_SIZE[0] * 2, THUMBNAIL_SIZE[1] * 2))
                image.thumbnail(THUMBNAIL_SIZE)
                if image.mode not in ("RGB", "L"):
                    image = image.convert("RGBA")
                    background = Image.new("RGB", image.size, "white")
                    background.paste(image, mask=image.getchannel("A"))
                    image = background
                out = io.BytesIO()
                image.save(out, "JPEG", quality=80)
    except Exception as error:  # any unreadable image: shown as a file link instead
        logger.info("No thumbnail: %s", error)
        return None
    return out.getvalue()


def read(stored: StoredFile) -> bytes:
    with media_storage().open(stored.name, "rb") as handle:
        return handle.read()


def delete_files(rows) -> int:
    """Delete these stored files (rows and bytes, thumbnails too); how many went.

    The caller has made sure nothing shows them any more. A storage that fails
    leaves the row, so the next run tries again.
    """
    storage = media_storage()
    deleted = 0
    for stored in rows:
        try:
            stored.delete()  # first: a message that took it meanwhile keeps it (PROTECT)
        except ProtectedError:
            continue
        try:
            for name in {stored.thumbnail, stored.name} - {"", NO_THUMBNAIL}:
                storage.delete(name)
        except Exception:
            logger.warning("Media store: could not delete %s", stored.name, exc_info=True)
        deleted += 1
    return deleted
