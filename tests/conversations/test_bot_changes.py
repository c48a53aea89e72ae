"""Changes people make to a bot (conversations/bot_changes.py): each writes only what it
changes, so what another process wrote meanwhile stays, and each commits with its audit
entry or not at all."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.models import OperatorAction
from conversations import bot_changes
from conversations.models import Bot
from conversations.services import rotate_secret
from messaging.delivery import pause_bot
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
