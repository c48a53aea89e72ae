"""Storing an AI bot's callbacks: the same inbound service as `/api/callback`.

`store_callback` records a mapped callback (`wecom_aibot_frames.callback_body`)
through `messaging.inbound` — same validation, same dedupe by msgid, same
forwarding. Its image, file or video object carries `cdn_type`/`cdn`, so the
media archive adds a pending media row and a worker fetches it at once
(`WeComAIBotConnector.fetch_media`: download, decrypt). A `mixed` message's
images get one more pending row each, committed with the message (so forwarding
waits for them), whose `cdn` is the URL with the message's aeskey as the fragment
(which no HTTP client sends). A card click's task_id is recorded as used by the
bot (messaging/card_task_ids.py).
"""

from __future__ import annotations

import json

from .wecom_aibot_frames import (
    MEDIA_REFERENCE,
    Callback,
    callback_body,
    clicked_task_id,
    mixed_image_reference,
)


def load_bot(bot_id: int):
    from conversations.models import Bot

    return Bot.objects.get(pk=bot_id)


# A conversation read by an earlier callback is used again for this long (a sync may rename it).
KNOWN_CONVERSATION_SECONDS = 60.0


def store_frame(
    bot, frame: dict, received: float, window: float | None, known: dict | None = None
) -> int | None:
    """Map a callback frame read at `received` (Unix time) whose reply window is `window`
    seconds (None: it takes no reply) and store it (`store_callback`). Raises FrameError for
    a frame that is no message."""
    reply_until = None if window is None else int(received + window)
    return store_callback(bot, callback_body(frame, reply_until), known)


def store_callback(bot, callback: Callback, known: dict | None = None) -> int | None:
    """Store the message once for `bot` (loaded once per session); its pk, or None for a
    repeated msgid.

    `known` (conversation id → (conversation, monotonic time)) is the session's
    memory of the conversations it stored into: a busy chat's row is not read
    again for every message.
    """
    import time

    from messaging import card_task_ids
    from messaging.inbound import parse_callback, record_inbound

    inbound = parse_callback(json.dumps(callback.body, ensure_ascii=False).encode())
    if task_id := clicked_task_id(callback.body):
        # Before the click is forwarded: a card answering it must not reuse its task_id.
        card_task_ids.seen_clicked(bot.pk, task_id)
    known = {} if known is None else known
    cached = known.get(inbound.envelope.conversation_id)
    fresh = cached is not None and time.monotonic() - cached[1] < KNOWN_CONVERSATION_SECONDS
    # A mixed message's images commit with it: forwarding waits for them as for an image.
    extra = [
        {"kind": item["kind"], "cdn_type": MEDIA_REFERENCE, "cdn": mixed_image_reference(item)}
        for item in callback.media
        if callback.body["msgtype"] != item["kind"]
    ]
    message = record_inbound(bot, inbound, cached[0] if fresh else None, extra)
    if message is None:
        return None  # stored, forwarded and fetched the first time
    conversation = message.conversation
    # What record_seen_in_message just wrote, to the second.
    conversation.last_inbound_at = message.created_at
    if not fresh:
        known[conversation.conversation_id] = (conversation, time.monotonic())
    return message.pk
