"""The bot's API secret authenticates every /api/ endpoint the same way (botadmin.api.BotSecret)."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.services import rotate_secret
from messaging.models import Message
from tests.messaging.support import callback_body

SEND_BODY = json.dumps({"msgtype": "text", "text": {"content": "hi"}})


def _send(client, secret):
    return client.post(
        f"/api/send?secret={secret}&conversation_id=wrGroup1",
        SEND_BODY,
        content_type="application/json",
    )


def _callback_in_query(client, secret):
    body = {k: v for k, v in callback_body("text").items() if k != "secret"}
    return client.post(
        f"/api/callback?secret={secret}", json.dumps(body), content_type="application/json"
    )


def _callback_in_body(client, secret):
    body = {**callback_body("text"), "secret": secret}
    return client.post("/api/callback", json.dumps(body), content_type="application/json")


ENDPOINTS = {
    "send": _send,
    "callback, secret in the query": _callback_in_query,
    "callback, secret in the body": _callback_in_body,
    "users": lambda client, secret: client.get(f"/api/users?secret={secret}"),
    "groups": lambda client, secret: client.get(f"/api/groups?secret={secret}"),
    "message status": lambda client, secret: client.get(f"/api/messages/m404?secret={secret}"),
    "cancel": lambda client, secret: client.post(f"/api/messages/m404/cancel?secret={secret}"),
}


def _authenticated(response) -> bool:
    assert response["Content-Type"] == "application/json"
    return response.json()["errcode"] != 93000


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("secret", ["", "s" * 43, "not a secret"])
def test_a_wrong_or_missing_secret_is_93000_with_401_everywhere(
    client, bot, group, endpoint, secret
):
    response = ENDPOINTS[endpoint](client, secret)

    assert response.status_code == 401
    assert response.json() == {"errcode": 93000, "errmsg": "invalid secret"}
    assert not Message.objects.exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_current_secret_is_accepted_everywhere(client, bot, group, endpoint):
    assert _authenticated(ENDPOINTS[endpoint](client, bot.secret))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_rotated_secret_works_during_its_grace_period_then_not(client, bot, group, endpoint):
    old = bot.secret
    rotate_secret(bot, grace=timedelta(hours=1))

    assert _authenticated(ENDPOINTS[endpoint](client, old))
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        assert not _authenticated(ENDPOINTS[endpoint](client, old))


def test_the_secret_in_the_body_wins_over_the_query(client, bot, group, make_bot):
    other = make_bot(name="other")
    body = {**callback_body("text"), "secret": bot.secret}

    response = client.post(
        f"/api/callback?secret={other.secret}", json.dumps(body), content_type="application/json"
    )

    assert response.json()["errcode"] == 0
    assert Message.objects.get().bot == bot


def test_a_send_reads_the_bot_by_secret_and_its_conversation_in_one_query(client, bot, group):
    with CaptureQueriesContext(connection) as captured:
        assert _send(client, bot.secret).json()["errcode"] == 0
    sql = [q["sql"] for q in captured.captured_queries]
    reads = [s for s in sql if s.startswith("SELECT") and '"conversations_' in s]
    assert len(reads) == 1, sql
    assert '"conversations_bot"' in reads[0] and '"conversations_conversation"' in reads[0]
    assert Message.objects.get().conversation == group


def test_a_callback_reads_the_bot_and_its_whole_conversation_in_one_query(
    client, bot, make_conversation
):
    group = make_conversation(bot, callback_body("text")["conversation_id"], name="Sales")
    body = callback_body("text", bot, msgid="whole-1")
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/callback", json.dumps(body), content_type="application/json")
    assert response.json()["errcode"] == 0
    sql = [q["sql"] for q in captured.captured_queries]
    reads = [s for s in sql if s.startswith("SELECT") and '"conversations_' in s]
    assert len(reads) == 1, sql
    assert Message.objects.get().conversation == group


def test_the_openapi_document_declares_the_secret_on_every_operation(client, db):
    spec = client.get("/api/openapi.json").json()

    assert spec["components"]["securitySchemes"] == {
        "BotSecret": {
            "type": "apiKey",
            "in": "query",
            "name": "secret",
            "description": "The bot's API secret (errcode 93000, HTTP 401, when wrong or missing).",
        }
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{"BotSecret": []}], (method, path)
            assert "secret" not in {p["name"] for p in operation.get("parameters", [])}
