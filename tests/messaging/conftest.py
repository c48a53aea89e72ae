"""Fixtures for inbound messages and forwarding: a real local receiver, a bot whose
webhook points at it, and posting callbacks."""

import json

import pytest

from tests.fakes.receiver import Receiver


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def hooked_bot(make_bot, receiver):
    """A bot whose webhook URL is the local receiver."""
    return make_bot(name="hooked", webhook_url=receiver.url("/hook"))


@pytest.fixture
def post_callback(client):
    def post(body, *, query: str = "", raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
        return client.post("/api/callback" + query, data=data, content_type="application/json")

    return post
