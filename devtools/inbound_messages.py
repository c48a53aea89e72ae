"""Many inbound messages at once, stored as /api/callback stores them (waiting for their
fan-out to the bot's webhook endpoints), for tests and benchmarks of forwarding."""

from __future__ import annotations


def store_inbound_texts(bot, count: int, prefix: str) -> list:
    """`count` inbound text messages of `bot` in one conversation of its, each still to be
    fanned out (`forward_pending`), their agent msgids `prefix-0`, `prefix-1`, …"""
    from conversations.models import Conversation
    from messaging.models import Message

    conversation, _ = Conversation.objects.get_or_create(
        bot=bot, conversation_id=f"wr{prefix}", defaults={"name": prefix}
    )
    return Message.objects.bulk_create(
        (
            Message(
                bot=bot,
                conversation=conversation,
                direction=Message.Direction.IN,
                status=Message.Status.RECEIVED,
                source=Message.Source.AGENT,
                msgtype="text",
                body={"msgtype": "text", "text": {"content": f"{prefix} 第 {n} 条"}},
                upstream_msgid=f"{prefix}-{n}",
                forward_pending=True,
            )
            for n in range(count)
        ),
        batch_size=1000,
    )
