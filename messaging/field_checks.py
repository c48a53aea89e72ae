"""Checks of one string field of an outbound body, shared by the msgtypes' checks.

Each raises 40058 (`Err.FIELD_INVALID`) naming the field (`where`, e.g.
`link.url`), in WeCom's words where it has some (`… exceed max length N bytes`).
"""

from botadmin import links
from botadmin.errors import Err

from .schemas import MAX_URL_BYTES


def _utf8_len(value: str) -> int:
    return len(value.encode("utf-8"))


def check_max(value: str, limit: int, where: str) -> None:
    if _utf8_len(value) > limit:
        raise Err.FIELD_INVALID.error(f"{where} exceed max length {limit} bytes")


def require(value: str, where: str) -> None:
    if not value.strip():
        raise Err.FIELD_INVALID.error(f"invalid field: {where} is empty", empty_field=where)


def check_url(value: str, where: str) -> None:
    """A URL botadmin or a connector may download (a picture, a file): http(s) only."""
    check_max(value, MAX_URL_BYTES, where)
    if not links.is_web_url(value):
        raise Err.FIELD_INVALID.error(f"invalid field: {where} must be an http(s) URL")


def check_link_url(value: str, where: str) -> None:
    """What a click opens: also a bare host[/path] (`www.qq.com`), as WeCom's robot takes."""
    check_max(value, MAX_URL_BYTES, where)
    if not links.is_link(value):
        raise Err.FIELD_INVALID.error(
            f"invalid field: {where} must be an http(s) URL or a host name with an optional "
            "path (www.example.com/page)"
        )


def truncate(value: str, limit: int) -> str:
    """Cut to at most `limit` UTF-8 bytes without splitting a character."""
    return value.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
