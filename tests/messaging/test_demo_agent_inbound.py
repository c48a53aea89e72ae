"""The demo agent `make run` starts: what it posts is accepted and lands in the message log."""

from connectors.demo_agent import InboundPoster
from conversations import demo
from forwarding.models import WebhookDelivery
from messaging.models import Message

from .support import create_pending_deliveries


def test_every_msgtype_the_demo_agent_posts_is_accepted_and_queued_for_the_webhook(
    live_server, hooked_bot
):
    poster = InboundPoster(
        callback_url=live_server.url + "/api/callback",
        secret=hooked_bot.secret,
        users=demo.DEMO_USERS,
        groups=demo.DEMO_GROUPS,
    )

    for msgtype in ("text", "image", "link", "miniprogram"):
        assert poster.post(poster.sample(msgtype)), msgtype

    assert sorted(Message.objects.filter(direction="in").values_list("msgtype", flat=True)) == [
        "image",
        "link",
        "miniprogram",
        "text",
    ]
    create_pending_deliveries()
    assert WebhookDelivery.objects.count() == 4
