"""A bot with a history of every kind of row a deletion must remove."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.utils import timezone

from announcements.models import Announcement, AnnouncementRun, SavedAudience
from audit.services import record_action
from conversations.models import Bot, BotConnection, Conversation, SyncRun
from forwarding.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from media import store
from media.models import StoredFile
from messaging.models import CardTaskId, DeliveryAttempt, Message, MessageMedia, UploadedMedia

TEXT = {"msgtype": "text", "text": {"content": "hi"}}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@dataclass
class History:
    bot: Bot
    conversations: list[Conversation]
    messages: list[Message] = field(default_factory=list)
    own_file: StoredFile | None = None
    shared_file: StoredFile | None = None
    upload_file: StoredFile | None = None


def _message(conversation, direction="out", **fields) -> Message:
    return Message.objects.create(
        bot=conversation.bot,
        conversation=conversation,
        direction=direction,
        msgtype="text",
        body=TEXT,
        status=Message.Status.SENT if direction == "out" else Message.Status.RECEIVED,
        source=Message.Source.API if direction == "out" else "",
        **fields,
    )


@pytest.fixture
def make_history(make_conversation, superuser):
    """`make_history(bot)`: two conversations, outbound messages with attempts, inbound ones
    with media and webhook deliveries, an announcement with a run and its messages, an
    upload, a saved audience, a sync run, a card task id, a connection and an audit entry."""

    def make(bot: Bot, *, shared_file: StoredFile | None = None) -> History:
        history = History(bot, [make_conversation(bot, f"wr{bot.pk}-{n}") for n in range(2)])
        now = timezone.now()
        history.own_file = store.store_bytes(PNG + f"own {bot.pk}".encode())
        history.shared_file = shared_file
        endpoint = WebhookEndpoint.objects.create(bot=bot, url="http://127.0.0.1:9/hook")
        for n, conversation in enumerate(history.conversations * 2):
            out = _message(conversation)
            DeliveryAttempt.objects.create(
                message=out, started_at=now, outcome=DeliveryAttempt.Outcome.SENT
            )
            inbound = _message(conversation, "in", upstream_msgid=f"up-{bot.pk}-{n}")
            stored = shared_file if (shared_file and n == 0) else history.own_file
            MessageMedia.objects.create(message=inbound, cdn=f"c{n}", stored_file=stored)
            delivery = WebhookDelivery.objects.create(message=inbound, endpoint=endpoint)
            WebhookAttempt.objects.create(
                delivery=delivery, number=1, url=endpoint.url, started_at=now, outcome="success"
            )
            history.messages += [out, inbound]
        announcement = Announcement.objects.create(
            bot=bot, title="周报", msgtype="text", body=TEXT, created_by=superuser
        )
        announcement.conversations.set(history.conversations)
        run = AnnouncementRun.objects.create(
            announcement=announcement, scheduled_for=now, started_at=now
        )
        history.messages += [
            _message(conversation, announcement_run=run) for conversation in history.conversations
        ]
        audience = SavedAudience.objects.create(bot=bot, name="all")
        audience.conversations.set(history.conversations)
        history.upload_file = store.store_bytes(b"%PDF-1.4 upload " + str(bot.pk).encode())
        UploadedMedia.objects.create(
            bot=bot,
            kind="file",
            name="a.pdf",
            size=history.upload_file.size,
            md5="0" * 32,
            stored_file=history.upload_file,
            expires_at=now + timedelta(days=3),
        )
        SyncRun.objects.create(bot=bot, trigger=SyncRun.Trigger.ADMIN, outcome="succeeded")
        CardTaskId.objects.create(bot=bot, task_id=f"task-{bot.pk}")
        BotConnection.objects.create(bot=bot)
        record_action(superuser, "bot.update", bot=bot, target=bot)
        return history

    return make
