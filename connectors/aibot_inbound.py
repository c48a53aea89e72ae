"""Storing an AI bot's callbacks: the same inbound service as `/api/callback`.

`store_callback` records a mapped callback (`wecom_aibot_frames.callback_body`)
through `messaging.inbound` — same validation, same dedupe by msgid, same
forwarding. Its image, file or video object carries `cdn_type`/`cdn`, so the
media archive adds a pending media row and a worker fetches it at once
(`WeComAIBotConnector.fetch_media`: download, decrypt). A `mixed` message's
images get one more pending row each, whose `cdn` is the URL with the
message's aeskey as the fragment (which no HTTP client sends).
"""

from __future__ import annotations

import json

from .wecom_aibot_frames import MEDIA_REFERENCE, Callback


def load_bot(bot_id: int):
    from conversations.models import Bot

    return Bot.objects.get(pk=bot_id)


def store_callback(bot, callback: Callback) -> int | None:
    """Store the message once for `bot` (loaded once per session); its pk, or None for a
    repeated msgid."""
    from django.db import transaction
    from django.utils import timezone

    from messaging.inbound import parse_callback, record_inbound
    from messaging.models import MessageMedia
    from messaging.tasks import fetch_media

    inbound = parse_callback(json.dumps(callback.body, ensure_ascii=False).encode())
    message = record_inbound(bot, inbound)
    if message is None:
        return None  # stored, forwarded and fetched the first time
    extra = [item for item in callback.media if callback.body["msgtype"] not in (item["kind"],)]
    if extra:
        with transaction.atomic():
            rows = [
                MessageMedia.objects.create(
                    message=message,
                    kind=item["kind"],
                    cdn_type=MEDIA_REFERENCE,
                    cdn=f"{item['url']}#{item['aeskey']}",
                    status=MessageMedia.Status.PENDING,
                    next_attempt_at=timezone.now(),
                )
                for item in extra
            ]
            fetch_media.delay_on_commit([row.pk for row in rows])
    return message.pk
