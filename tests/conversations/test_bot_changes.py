"""Changes people make to a bot (conversations/bot_changes.py): each writes only what it
changes, so what another process wrote meanwhile stays, and each commits with its audit
entry or not at all."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.models import OperatorAction
from conversations import bot_changes, connections
from conversations.models import Bot, BotConnection, Conversation, SyncRun
from conversations.pauses import pause_bot
from conversations.services import rotate_secret
from tests.db_faults import fails_to_record

AGENT_URL = "http://10.1.2.3:8080"


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_superuser("root", password="pw-root-123456")


def rotated_and_paused(bot: Bot) -> tuple[str, str]:
    """Another process rotates the bot's secret (it leaked) and a worker pauses the bot;
    the new secret and the reason of the pause."""
    secret = rotate_secret(Bot.objects.get(pk=bot.pk), timedelta(0)).secret
    pause_bot(bot.pk, "the agent refused the token", timezone.now())
    return secret, "the agent refused the token"


def test_new_connector_settings_keep_a_rotation_and_a_pause_made_since_the_bot_was_read(bot, admin):
    read_earlier = Bot.objects.get(pk=bot.pk)  # e.g. when the request began
    leaked = bot.secret
    secret, reason = rotated_and_paused(bot)

    changed = bot_changes.change_connector_settings(read_earlier, {"agent_url": AGENT_URL}, admin)

    assert changed == ["agent_url"]
    stored = Bot.objects.get(pk=bot.pk)
    assert stored.agent_url == AGENT_URL
    assert stored.secret == secret != leaked  # the leaked secret does not come back
    assert stored.paused_at is not None and stored.paused_reason == reason
    assert OperatorAction.objects.get(action="bot.update").summary == "agent_url"


def test_new_connector_settings_are_not_stored_without_their_audit_entry(bot, admin):
    with fails_to_record("bot.update"):
        bot_changes.change_connector_settings(bot, {"agent_url": AGENT_URL}, admin)

    assert Bot.objects.get(pk=bot.pk).agent_url != AGENT_URL


def test_changed_fields_keep_a_rotation_and_a_pause_made_since_the_bot_was_read(bot, admin):
    read_earlier = Bot.objects.get(pk=bot.pk)
    secret, reason = rotated_and_paused(bot)
    read_earlier.rate_limit_per_minute = 7

    bot_changes.change_fields(read_earlier, ["rate_limit_per_minute"], admin)

    stored = Bot.objects.get(pk=bot.pk)
    assert stored.rate_limit_per_minute == 7
    assert (stored.secret, stored.paused_reason) == (secret, reason)


def test_changed_fields_are_not_stored_without_their_audit_entry(bot, admin):
    bot.rate_limit_per_minute = 7

    with fails_to_record("bot.update"):
        bot_changes.change_fields(bot, ["rate_limit_per_minute"], admin)

    assert Bot.objects.get(pk=bot.pk).rate_limit_per_minute != 7


@pytest.mark.parametrize("operator", [True, False], ids=["add", "remove"])
def test_an_operator_change_is_not_made_without_its_audit_entry(bot, admin, operator):
    user = get_user_model().objects.create_user("olga", password="pw-olga-123456")
    if not operator:
        bot.operators.add(user)

    with fails_to_record("bot.operator_add" if operator else "bot.operator_remove"):
        bot_changes.set_operator(bot, user, admin, operator=operator)

    assert bot.operators.filter(pk=user.pk).exists() != operator  # as it was


def test_a_conversation_entered_by_hand_is_not_added_without_its_audit_entry(bot, admin):
    conversation = Conversation(bot=bot, conversation_id="wrByHand", name="by hand", kind="group")

    with fails_to_record("conversation.add"):
        bot_changes.add_conversation(conversation, admin)

    assert not bot.conversations.filter(conversation_id="wrByHand").exists()


def test_a_sync_requested_by_a_person_is_not_started_without_its_audit_entry(bot, admin):
    with fails_to_record("contacts.sync") as published:
        bot_changes.request_sync_by(admin, bot, SyncRun.Trigger.CONSOLE)

    assert not SyncRun.objects.filter(bot=bot).exists()
    assert published == []  # no worker woken for it


def test_a_reconnect_is_not_made_without_its_audit_entry(bot, admin):
    BotConnection.objects.create(
        bot=bot, state=BotConnection.State.TAKEN_OVER, taken_over_at=timezone.now()
    )

    with fails_to_record("bot.reconnect"):
        connections.reconnect(bot, admin)

    row = BotConnection.objects.get(pk=bot.pk)
    assert row.state == BotConnection.State.TAKEN_OVER and row.taken_over_at is not None
