"""Fixtures for sending: a robot bot, a bridge bot, and a client for /api/send."""

import json

import pytest
from django.core.cache import cache

from conversations.models import Bot


@pytest.fixture
def robot_bot(make_bot) -> Bot:
    return make_bot(name="alerts", connector=Bot.Connector.WECOM_ROBOT, agent_url="")


@pytest.fixture
def robot_group(robot_bot, make_conversation):
    return make_conversation(robot_bot, "robotGroup1", robot_key="k-robot")


@pytest.fixture
def send(client):
    """POST /api/send like a caller would: `send(bot, conversation_id, body, **options)`."""

    def post(
        secret, conversation_id, body, *, content_type="application/json", query=None, **headers
    ):
        params = {"secret": secret, "conversation_id": conversation_id, **(query or {})}
        data = body if isinstance(body, bytes | str) else json.dumps(body, ensure_ascii=False)
        return client.post(
            "/api/send", data=data, content_type=content_type, query_params=params, headers=headers
        )

    return post


@pytest.fixture(autouse=True)
def _fresh_rate_limits(db):
    """Rate-limit counters live in the cache, which outlives a test's transaction."""
    cache.clear()
