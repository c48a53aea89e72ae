"""Console fixtures: two bots with one operator each, and messages made with the models."""

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from conversations.models import Bot
from messaging.models import DeliveryAttempt, Message
from tests.connectors.conftest import agent, bridge_bot  # noqa: F401  (a fake agent and its bot)
from tests.connectors.wecom_app.conftest import (  # noqa: F401  (a self-built app, its fake API)
    app_api,
    app_bot,
)
from tests.messaging.conftest import (  # noqa: F401  (the local webhook receiver, delivery)
    bridge_group,
    clock,
    hooked_bot,
    post_callback,
    queue_message,
    receiver,
    wecom,
    wecom_bot,
    wecom_group,
)

from .browser import demo, demo_agent, page, page_of_root  # noqa: F401  (fixtures of the browser tests)


@pytest.fixture
def wrong_token(bridge_bot):  # noqa: F811
    """The operator typed a token the agent does not know: it answers 401. Returns the
    right one."""
    right = bridge_bot.agent_token
    Bot.objects.filter(pk=bridge_bot.pk).update(agent_token="x" * 40)
    bridge_bot.refresh_from_db()
    return right


@pytest.fixture
def other_bot(make_bot):
    return make_bot(name="rival")


@pytest.fixture
def other_group(other_bot, make_conversation):
    return make_conversation(other_bot, "wrRivalGroup", name="竞品群")


@pytest.fixture
def operator(make_operator, bot):
    return make_operator("alice", bot)


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def reader(make_operator, bot, client):
    """An operator of `bot` who may not manage its endpoints."""
    user = make_operator("reader", bot)
    user.user_permissions.remove(Permission.objects.get(codename="administer_bot"))
    client.force_login(user)
    return client


@pytest.fixture
def make_message(db):
    def make(conversation, direction="in", text="你好", **fields) -> Message:
        msgtype = fields.pop("msgtype", "text")
        body = fields.pop("body", None) or {"msgtype": msgtype, msgtype: {"content": text}}
        fields.setdefault(
            "status", Message.Status.RECEIVED if direction == "in" else Message.Status.SENT
        )
        fields.setdefault("source", Message.Source.AGENT if direction == "in" else "api")
        created_at = fields.pop("created_at", None)
        message = Message.objects.create(
            bot=conversation.bot,
            conversation=conversation,
            direction=direction,
            msgtype=msgtype,
            body=body,
            search_text=text,
            **fields,
        )
        if created_at is not None:
            Message.objects.filter(pk=message.pk).update(created_at=created_at)
            message.refresh_from_db()
        return message

    return make


@pytest.fixture
def make_attempt(db):
    def make(message, outcome="sent", **fields) -> DeliveryAttempt:
        fields.setdefault("started_at", timezone.now())
        return DeliveryAttempt.objects.create(message=message, outcome=outcome, **fields)

    return make
