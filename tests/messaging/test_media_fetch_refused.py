"""An agent refusing botadmin's token when asked for a received picture (`POST /media`,
HTTP 401) shows the bot as "Credentials refused", as a connection test the agent refuses
does, and the picture is asked for again; a fetch the agent answers clears it. The fake
agent is a real server on 127.0.0.1 that answers a wrong token 401."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from conversations.models import Bot
from messaging import media_fetch
from messaging.models import MessageMedia
from tests.console.test_refused_token import HINT
from tests.images import image_bytes
from tests.refused_states import assert_not_refused, assert_refused

from .support import callback_body


def fetch_due() -> list[str | None]:
    """What the worker woken by the callback does (the task body), run inline."""
    return [media_fetch.fetch(pk) for pk in media_fetch.due_media()]


def test_a_media_fetch_the_agent_refuses_shows_the_bot_refused_until_a_fetch_passes(
    client, make_operator, bridge_bot, agent, post_callback
):
    client.force_login(make_operator("alice", bridge_bot))
    received = callback_body("image", bridge_bot)
    agent.media[received["image"]["cdn"]] = (image_bytes("JPEG", (64, 48)), "image/jpeg")
    right = bridge_bot.agent_token
    Bot.objects.filter(pk=bridge_bot.pk).update(agent_token="x" * 40)  # a mistyped token
    post_callback(received)

    assert fetch_due() == ["pending"]

    assert "401" in MessageMedia.objects.get().error
    assert_refused(client, bridge_bot, HINT)

    Bot.objects.filter(pk=bridge_bot.pk).update(agent_token=right)  # the agent's, say
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert fetch_due() == ["stored"]

    assert_not_refused(client, bridge_bot)
