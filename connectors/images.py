"""Which image formats a connector takes, recognised by content, never by file name."""

from __future__ import annotations

# Pillow's format names, as in Connector.image_formats, and what people call them.
FORMAT_NAMES = {"JPEG": "JPG", "PNG": "PNG", "GIF": "GIF", "WEBP": "WebP"}


def image_format(raw: bytes) -> str | None:
    """The format of image bytes by their signature (Pillow's name), or None."""
    if raw.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if raw[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    return None


def is_jpg_or_png(raw: bytes) -> bool:
    """The two formats WeCom's robot image and app media/upload take (shared/spec/wecom.md
    section 1, shared/spec/wecom-app.md)."""
    return image_format(raw) in ("JPEG", "PNG")


def describe_formats(formats: frozenset[str]) -> str:
    """ "JPG or PNG", "GIF, JPG, PNG or WebP": for errors that say what is accepted."""
    names = sorted(FORMAT_NAMES.get(f, f) for f in formats)
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} or {names[-1]}"
