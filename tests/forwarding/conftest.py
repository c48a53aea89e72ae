"""Forwarding fixtures: the local webhook receiver, a bot hooked to it and callback posting
are shared with the inbound tests of messaging."""

import pytest

from forwarding.models import WebhookDelivery
from tests.messaging.conftest import (  # noqa: F401
    _fresh_cache,
    _fresh_rate_limits,
    hooked_bot,
    post_callback,
    receiver,
)
from tests.messaging.support import callback_body, create_pending_deliveries


@pytest.fixture
def record(post_callback):  # noqa: F811  (the imported fixture)
    """Record one inbound text message (a fresh msgid each time) for the bot."""
    counter = iter(range(1, 10_000))

    def record(bot, msgtype="text", **fields):
        body = callback_body(msgtype, bot, **{"msgid": f"m-{next(counter)}", **fields})
        response = post_callback(body)
        assert response.json()["errcode"] == 0
        create_pending_deliveries()  # what the worker woken by the callback does first
        return WebhookDelivery.objects.order_by("-id").first()

    return record
