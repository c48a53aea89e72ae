"""Operators see the connection (admin, dashboard) and reconnect after a takeover."""

import json

from django.utils import timezone

from audit.models import OperatorAction
from conversations import connections
from conversations.models import Bot, BotConnection
from messaging.status_labels import clock_time


def aibot(**fields) -> Bot:
    return Bot.objects.create(
        name="helper",
        connector="wecom_aibot",
        connector_settings={"bot_id": "bot1", "bot_secret": "s"},
        **fields,
    )


def test_the_admin_page_shows_state_since_last_frame_holder_and_error(db, admin_client):
    bot = aibot()
    assert connections.claim(bot.pk, "host-1:42:ab", lease_seconds=30)
    since = timezone.now()
    connections.note(
        bot.pk, "host-1:42:ab", state="connected", connected_since=since, last_frame_at=since
    )

    page = admin_client.get(f"/admin/conversations/bot/{bot.pk}/change/").content.decode()

    assert "host-1:42:ab" in page
    assert clock_time(since) in page  # as the console shows times
    assert "connection-connected" in page


def test_an_operator_reconnects_a_bot_whose_connection_was_taken_over(db, admin_client):
    bot = aibot()
    connections.claim(bot.pk, "g", lease_seconds=30)
    connections.taken_over(bot.pk, "g")
    assert not connections.claim(bot.pk, "g", lease_seconds=30)  # no gateway takes it back
    page = admin_client.get(f"/admin/conversations/bot/{bot.pk}/change/").content.decode()
    assert "connection-taken_over" in page

    admin_client.post(
        "/admin/conversations/bot/",
        {"action": "reconnect_long_connection", "_selected_action": [bot.pk]},
    )

    row = BotConnection.objects.get(pk=bot.pk)
    assert row.taken_over_at is None and row.state == "idle"
    assert OperatorAction.objects.filter(action="bot.reconnect", bot=bot).exists()
    assert connections.claim(bot.pk, "g", lease_seconds=30)


def test_the_dashboard_shows_an_ai_bots_connection(db, admin_client, settings):
    bot = aibot()
    connections.claim(bot.pk, "g", lease_seconds=30)
    connections.note(bot.pk, "g", state="connected", connected_since=timezone.now())

    page = admin_client.get("/console/dashboard/").content.decode()

    assert "connection-connected" in page


def test_an_expired_lease_shows_not_connected(db):
    bot = aibot()
    connections.claim(bot.pk, "g", lease_seconds=-1)
    assert connections.status(bot)["state"] == "idle"
    assert not connections.status(bot)["held"]


def test_the_console_reply_box_answers_the_newest_received_message(db, admin_client):
    from django.urls import reverse

    from messaging.inbound import parse_callback, record_inbound
    from messaging.models import Message

    bot = aibot()
    for msgid in ("in1", "in2"):
        body = {"msgtype": "text", "conversation_id": "lisi", "conversation_type": "user",
                "sender": "lisi", "msgid": msgid, "text": {"content": "?"}}  # fmt: skip
        record_inbound(bot, parse_callback(json.dumps(body).encode()))
    conversation = bot.conversations.get()

    page = admin_client.get(reverse("console:history", args=[bot.pk, conversation.pk]))
    assert 'name="reply_to" value="in2"' in page.content.decode()
    admin_client.post(
        reverse("console:reply", args=[bot.pk, conversation.pk]),
        {"content": "好的", "reply_to": "in2"},
    )

    sent = Message.objects.get(direction=Message.Direction.OUT)
    assert sent.body == {"msgtype": "text", "text": {"content": "好的"}, "reply_to": "in2"}
