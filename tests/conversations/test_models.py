import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from conversations.models import Bot, Conversation
from conversations.secrets import is_valid_api_secret


def test_new_bot_gets_a_long_url_safe_secret_and_a_standard_webhooks_signing_secret(bot):
    assert is_valid_api_secret(bot.secret)
    assert len(bot.secret) >= 32
    assert bot.signing_secret.startswith("whsec_")


def test_each_bot_gets_a_different_secret(make_bot):
    assert make_bot().secret != make_bot().secret


@pytest.mark.parametrize(
    "secret", ["short", "has spaces in it and is quite long enough!!", "x" * 31]
)
def test_a_malformed_secret_is_rejected(bot, secret):
    bot.secret = secret
    with pytest.raises(ValidationError) as error:
        bot.full_clean()
    assert "secret" in error.value.message_dict


def test_a_bridge_bot_needs_an_agent_url_and_a_long_token(db):
    bot = Bot(name="b", connector="bridge", agent_url="", agent_token="short")
    with pytest.raises(ValidationError) as error:
        bot.full_clean()
    assert set(error.value.message_dict) >= {"agent_url", "agent_token"}


def test_a_robot_bot_needs_no_agent(db):
    Bot(name="robot", connector="wecom_robot").full_clean()


def test_a_conversation_id_is_unique_per_bot(bot, make_bot, make_conversation):
    make_conversation(bot, "wr1")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_conversation(bot, "wr1")
    # The same id under another bot is a different conversation.
    other = make_conversation(make_bot(), "wr1")
    assert Conversation.objects.filter(conversation_id="wr1").count() == 2
    assert other.pk
