"""The multipart/form-data body WeCom's uploads take: one part named `media`, with a file name.

Both the app's `media/upload` (shared/spec/wecom-app.md) and a group robot's
`webhook/upload_media` (shared/spec/wecom.md section 1) read the bytes from it.
"""

from __future__ import annotations

import hashlib
import secrets


def media_form(content: bytes, filename: str) -> tuple[bytes, str]:
    """(body, Content-Type) of a form holding `content` as the part `media`."""
    boundary = "botadmin" + secrets.token_hex(12)
    # A quote or a line break would end the header early.
    safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "") or "file"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="media"; '
            f'filename="{safe_name}"; filelength={len(content)}\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def upload_digest(content: bytes, filename: str) -> str:
    """What a media_id stands for, to reuse it: the bytes and the name recipients see (the
    same bytes sent under another name are another upload)."""
    return hashlib.sha256(filename.encode("utf-8", "replace") + b"\0" + content).hexdigest()
