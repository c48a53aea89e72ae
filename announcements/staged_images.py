"""Images uploaded on the compose page: stored under MEDIA_ROOT/announcements/, signed
for a page shown again (a browser does not send a file again), and their public address."""

import re
import uuid
from pathlib import PurePath

from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage

# Browsers offer these in the file picker; what counts is the content (Pillow).
IMAGE_ACCEPT = "image/png,image/jpeg,image/gif,image/webp"
IMAGE_SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp"}
STAGED_SALT = "announcements.staged-image"
# What store_upload names a file.
STAGED_NAME = re.compile(r"announcements/[0-9a-f]{32}[.\w-]*")


def staged(name: str) -> str:
    """What a page shown again posts back for an image already stored under `name`
    (`ComposeForm.staged_image`): a browser does not send a file again."""
    return signing.dumps(name, salt=STAGED_SALT)


def stored(name: str) -> bool:
    try:
        return default_storage.exists(name)
    except SuspiciousFileOperation:
        return False


def public_image_url(name: str) -> str:
    """The address of a stored image for whoever sends it: the worker downloading it
    for WeCom, the media fetcher archiving it, a bridge agent. They reach botadmin at
    BOTADMIN_PUBLIC_URL, not necessarily at the host the operator's browser used (an
    internal name, 127.0.0.1)."""
    return settings.BOTADMIN_PUBLIC_URL + default_storage.url(name)


def store_upload(upload) -> str:
    """Save an uploaded image under MEDIA_ROOT/announcements/; returns its storage name."""
    found = getattr(getattr(upload, "image", None), "format", None)
    suffix = IMAGE_SUFFIXES.get(found) or PurePath(upload.name).suffix.lower()
    return default_storage.save(f"announcements/{uuid.uuid4().hex}{suffix}", upload)
