"""Storing an AI bot's callbacks, and fetching their media before WeCom's URLs die.

`store_callback` records a mapped callback through the inbound service that
`/api/callback` uses (same validation, same dedupe by msgid, same
forwarding) and creates a media row per image, file or video it carries.

`fetch` downloads each of them at once: WeCom's URLs work for about five
minutes and the bytes are encrypted with the message's own key. A failed
download is tried again with growing waits while the URL should still work;
after that the message records why its media is missing (`last_error`),
so nothing is dropped silently. The decrypted bytes go to the media archive
(`media.store.store_bytes`, content-addressed); `keep` is the one place that
links them to the media row.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING

import requests
from django.conf import settings
from django.utils import timezone

from botadmin import http

from .wecom_aibot_frames import MEDIA_REFERENCE, Callback, FrameError, decrypt_media

if TYPE_CHECKING:
    from .aibot_gateway import Gateway

logger = logging.getLogger(__name__)

# WeCom's media URLs work for about 5 minutes; the last try starts before that.
URL_LIFETIME_SECONDS = 280.0
FIRST_RETRY_SECONDS = 1.0


def store_callback(bot_id: int, callback: Callback) -> list[tuple[int, dict]]:
    """Store the message (once); [(media row id, media item)] to fetch, empty for a repeat."""
    from conversations.models import Bot
    from messaging.inbound import parse_callback, record_inbound
    from messaging.models import MessageMedia

    bot = Bot.objects.get(pk=bot_id)
    inbound = parse_callback(json.dumps(callback.body, ensure_ascii=False).encode())
    message = record_inbound(bot, inbound)
    if message is None or not callback.media:
        return []  # a repeated msgid: stored, forwarded and fetched the first time
    rows = list(message.media.order_by("pk"))  # record_inbound made the image's row
    fetch = []
    for index, item in enumerate(callback.media):
        if index < len(rows):
            row = rows[index]
        else:
            row = MessageMedia.objects.create(
                message=message, kind=item["kind"], cdn_type=MEDIA_REFERENCE, cdn=item["url"]
            )
        fetch.append((row.pk, item))
    return fetch


async def fetch(gateway: Gateway, row_id: int, item: dict, received: float) -> None:
    """Download, decrypt and keep one media item, retrying until its URL's lifetime ends."""
    deadline = received + URL_LIFETIME_SECONDS
    wait, attempt, error = FIRST_RETRY_SECONDS, 0, ""
    while True:
        attempt += 1
        try:
            content = await gateway.db(download, item["url"])
            plain = decrypt_media(content, item.get("aeskey") or "")
        except _Temporary as failure:
            error = str(failure)
        except (_Permanent, FrameError) as failure:
            error = str(failure)
            break
        else:
            try:
                await gateway.db(keep, row_id, plain)
            except Exception as failure:  # the archive's storage is down: try again
                logger.exception("AI bot media %s: storing failed", row_id)
                error = f"storing failed: {failure.__class__.__name__}"
            else:
                return
        if time.time() + wait > deadline:
            break
        await asyncio.sleep(wait)
        wait = min(wait * 2, 30.0)
    logger.warning("AI bot media %s not fetched after %d tries: %s", row_id, attempt, error)
    await gateway.db(record_failure, row_id, item["kind"], f"{error} ({attempt} tries)")


class _Temporary(Exception):
    pass


class _Permanent(Exception):
    pass


def download(url: str) -> bytes:
    limit = settings.BOTADMIN_MEDIA_MAX_BYTES
    try:
        response = http.request(
            "GET", url, max_bytes=limit + 1, connect_timeout=5, read_timeout=30, max_redirects=3
        )
    except http.UnsafeURLError as error:
        raise _Permanent(f"media URL refused: {error}") from None
    except requests.RequestException as error:
        raise _Temporary(f"download failed: {error.__class__.__name__}") from None
    if response.truncated:
        raise _Permanent(f"larger than the {limit} bytes media limit")
    if not response.ok:
        raise _Temporary(f"download answered HTTP {response.status}")
    return response.content


def keep(row_id: int, content: bytes) -> None:
    """Put the decrypted bytes in the media archive and link them to the media row."""
    from media.store import store_bytes
    from messaging.models import MessageMedia

    stored = store_bytes(content)
    MessageMedia.objects.filter(pk=row_id).update(
        file=stored.name,
        content_type=stored.content_type,
        size=stored.size,
        stored_at=timezone.now(),
    )


def record_failure(row_id: int, kind: str, error: str) -> None:
    from messaging.models import Message, MessageMedia

    message_id = MessageMedia.objects.filter(pk=row_id).values_list("message_id", flat=True).first()
    if message_id is not None:
        Message.objects.filter(pk=message_id).update(
            last_error=f"{kind} not fetched from WeCom: {error}"[:2000]
        )


def extension(data: bytes) -> str:
    from media.sniff import sniff

    return sniff(data)[1].lstrip(".") or "bin"
