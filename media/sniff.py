"""The content type of bytes, recognised by their signature, never by a name or a declared type.

A receiver or a browser that trusted a declared type could be served HTML as
an "image"; so only the signatures below give a type, and anything else is
`application/octet-stream` (served as a download).
"""

from __future__ import annotations

OCTET_STREAM = "application/octet-stream"

# (offset, signature, content type, extension); the first match wins.
_SIGNATURES: tuple[tuple[int, bytes, str, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (0, b"GIF87a", "image/gif", ".gif"),
    (0, b"GIF89a", "image/gif", ".gif"),
    (0, b"BM", "image/bmp", ".bmp"),
    (0, b"%PDF-", "application/pdf", ".pdf"),
    (0, b"PK\x03\x04", "application/zip", ".zip"),
    (0, b"#!AMR\n", "audio/amr", ".amr"),
    (0, b"\x02#!SILK_V3", "audio/silk", ".silk"),
    (0, b"#!SILK_V3", "audio/silk", ".silk"),
    (0, b"ID3", "audio/mpeg", ".mp3"),
    (0, b"OggS", "audio/ogg", ".ogg"),
    (0, b"\x1f\x8b", "application/gzip", ".gz"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar", ".rar"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed", ".7z"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage", ".doc"),
)


def sniff(content: bytes) -> tuple[str, str]:
    """(content type, file extension) of these bytes."""
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp", ".webp"
    if content[:4] == b"RIFF" and content[8:12] == b"WAVE":
        return "audio/wav", ".wav"
    if content[4:8] == b"ftyp":
        return "video/mp4", ".mp4"
    for offset, signature, content_type, extension in _SIGNATURES:
        if content[offset : offset + len(signature)] == signature:
            return content_type, extension
    return OCTET_STREAM, ""
