"""The one validation of an outbound message body, shared by the API, the console and announcements.

`validate_outbound(bot, body)` returns the normalised body or raises ApiError.
"""

from botadmin.errors import Err
from conversations.models import Bot


def validate_outbound(bot: Bot, body: dict) -> dict:
    msgtype = body.get("msgtype") if isinstance(body, dict) else None
    if not isinstance(msgtype, str) or not isinstance(body.get(msgtype), dict):
        raise Err.INVALID_MSGTYPE.error()
    return {"msgtype": msgtype, msgtype: body[msgtype]}


def search_text(body: dict) -> str:
    """The words of a message that search finds: content, title, description."""
    payload = body.get(body.get("msgtype"), {}) if isinstance(body, dict) else {}
    if not isinstance(payload, dict):
        return ""
    parts = [payload.get(key) for key in ("content", "title", "desc", "description")]
    for article in payload.get("articles") or []:
        if isinstance(article, dict):
            parts += [article.get("title"), article.get("description")]
    return "\n".join(str(part) for part in parts if part)
