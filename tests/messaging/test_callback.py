"""POST /api/callback: what agents report is stored once, validated, and queued for forwarding."""

import json

import pytest
from standardwebhooks.webhooks import Webhook

from botadmin import metrics
from conversations.models import Conversation
from forwarding.models import WebhookDelivery
from messaging.models import Message, MessageMedia
from tests.messaging.support import primary_signing_secret

from .support import (
    SEED_MSGTYPES,
    callback_body,
    create_pending_deliveries,
    forward_due,
    full_disk,
)

OK = {"errcode": 0, "errmsg": "ok"}


@pytest.mark.parametrize("msgtype", SEED_MSGTYPES)
def test_each_seed_msgtype_is_stored_and_arrives_signed_in_seed_format(
    msgtype, hooked_bot, receiver, post_callback
):
    sent = callback_body(msgtype, hooked_bot)

    response = post_callback(sent)

    assert response.status_code == 200 and response.json() == OK
    message = Message.objects.get()
    assert (message.direction, message.status, message.source, message.msgtype) == (
        "in",
        "received",
        "agent",
        msgtype,
    )
    assert message.sender_id == sent["sender"]
    assert message.upstream_msgid == sent.get("msgid", "")
    assert "secret" not in message.body  # the log does not keep credentials

    assert forward_due() == ["success"]
    (request,) = receiver.requests
    # The operator verifies with the Standard Webhooks library from PyPI.
    verified = Webhook(primary_signing_secret(hooked_bot)).verify(request.body, request.headers)
    expected = {**sent}
    expected.setdefault("msgid", message.msgid)
    expected.setdefault("timestamp", int(message.created_at.timestamp()))
    assert verified == expected
    assert request.headers["webhook-id"] == f"msg_{message.msgid}"


def test_a_new_conversation_is_created_with_its_kind_and_name(bot, post_callback):
    post_callback(callback_body("image", bot))

    conversation = Conversation.objects.get(bot=bot, conversation_id="wmUserLisi")
    assert (conversation.kind, conversation.name) == ("user", "李四")
    assert conversation.last_inbound_at is not None


def _without_kind(bot, conversation_id: str, sender: str, msgid: str) -> dict:
    """The seed's own fields only: bridge-protocol.md makes `conversation_type` optional."""
    body = {**callback_body("text", bot), "conversation_id": conversation_id, "sender": sender}
    body["msgid"] = msgid
    for optional in ("conversation_type", "conversation_name", "sender_name"):
        body.pop(optional, None)
    return body


def test_a_new_conversation_without_its_kind_is_a_direct_chat_when_it_is_the_senders(
    bot, client, post_callback
):
    post_callback(_without_kind(bot, "zhangsan", "zhangsan", "dm1"))
    post_callback(_without_kind(bot, "wrOpsGroup", "zhangsan", "group1"))

    users = client.get(f"/api/users?secret={bot.secret}").json()["data"]
    groups = client.get(f"/api/groups?secret={bot.secret}").json()["data"]
    assert [user["conversation_id"] for user in users] == ["zhangsan"]
    assert [group["conversation_id"] for group in groups] == ["wrOpsGroup"]


def test_a_message_without_a_kind_leaves_a_known_conversations_kind_as_it_is(
    bot, group, post_callback
):
    """A group whose ID happens to be the sender's stays a group: only the field changes it."""
    post_callback(_without_kind(bot, group.conversation_id, group.conversation_id, "m1"))

    group.refresh_from_db()
    assert group.kind == "group"


def test_a_known_conversation_gets_its_name_and_last_activity_updated(bot, group, post_callback):
    before = group.last_inbound_at
    post_callback(
        callback_body(
            "text", bot, conversation_id=group.conversation_id, conversation_name="新名字"
        )
    )

    group.refresh_from_db()
    assert group.name == "新名字"
    assert group.last_inbound_at and group.last_inbound_at != before
    assert Message.objects.get().conversation == group


def test_the_secret_may_come_in_the_query_string(bot, post_callback):
    body = callback_body("text")
    del body["secret"]

    response = post_callback(body, query=f"?secret={bot.secret}")

    assert response.json() == OK
    assert Message.objects.filter(bot=bot).count() == 1


def test_a_wrong_secret_is_refused_with_93000_and_nothing_is_stored(bot, post_callback):
    response = post_callback(callback_body("text", secret="x" * 43))

    assert response.status_code == 401
    assert response.json()["errcode"] == 93000
    assert not Message.objects.exists() and not Conversation.objects.exists()


def _valid(bot):
    return callback_body("text", bot)


BAD_BODIES = {
    "malformed JSON": (lambda bot: b'{"msgtype": "text",', 7000001),
    "not UTF-8": (
        lambda bot: json.dumps(_valid(bot)).encode().replace(b"wrGroup", b"\xff\xfe"),
        7000001,
    ),
    # JSON, but not an object: a parameter of the wrong shape (docs/api.md), as /api/send says.
    "a JSON array": (lambda bot: b"[1, 2]", 40035),
    "missing conversation_id": (
        lambda bot: {k: v for k, v in _valid(bot).items() if k != "conversation_id"},
        40035,
    ),
    "missing sender": (lambda bot: {k: v for k, v in _valid(bot).items() if k != "sender"}, 40035),
    "missing msgtype": (
        lambda bot: {k: v for k, v in _valid(bot).items() if k != "msgtype"},
        40035,
    ),
    "missing the msgtype's object": (
        lambda bot: {k: v for k, v in _valid(bot).items() if k != "text"},
        40035,
    ),
    "missing text.content": (lambda bot: {**_valid(bot), "text": {}}, 40035),
    "content not a string": (lambda bot: {**_valid(bot), "text": {"content": 42}}, 40035),
    "conversation_id not a string": (lambda bot: {**_valid(bot), "conversation_id": 7}, 40035),
    "timestamp not a number": (lambda bot: {**_valid(bot), "timestamp": "yesterday"}, 40035),
    # Found by the fuzzer: past year 9999 Python has no datetime for it.
    "timestamp in milliseconds": (lambda bot: {**_valid(bot), "timestamp": 1764300000000}, 40035),
    "unknown conversation_type": (lambda bot: {**_valid(bot), "conversation_type": "room"}, 40035),
    "msgid too long": (lambda bot: {**_valid(bot), "msgid": "9" * 200}, 40035),
    # Once read as the msgid "True" (every later `true` then dropped as a repeat) and the
    # time 1970-01-01T00:00:01.
    "msgid a boolean": (lambda bot: {**_valid(bot), "msgid": True}, 40035),
    "timestamp a boolean": (lambda bot: {**_valid(bot), "timestamp": True}, 40035),
    # PostgreSQL stores neither in text or jsonb: refused, not a 500.
    "a NUL in conversation_id": (lambda bot: {**_valid(bot), "conversation_id": "wr\x00G"}, 40035),
    "a NUL in the text": (lambda bot: {**_valid(bot), "text": {"content": "a\x00b"}}, 40035),
    "a lone surrogate": (
        lambda bot: json.dumps(_valid(bot)).encode().replace(b"wrGroup", b"\\ud800"),
        40035,
    ),
    "a NUL in a key": (lambda bot: {**_valid(bot), "extra": {"a\x00": 1}}, 40035),
    # Found by the fuzzer: Python reads these, no JSON column stores them.
    "Infinity": (lambda bot: json.dumps({**_valid(bot), "extra": float("inf")}).encode(), 7000001),
    "NaN": (lambda bot: json.dumps({**_valid(bot), "extra": [float("nan")]}).encode(), 7000001),
    "a 1 MB body": (lambda bot: {**_valid(bot), "text": {"content": "x" * 1_048_576}}, 7000002),
    # Once a 503 with a traceback: Python's decoder ran out of recursion.
    "10,000 nested lists": (lambda bot: _nested(bot, 10_000), 7000004),
    "33 levels": (lambda bot: _nested(bot, 32), 7000004),
}


def _nested(bot, levels: int) -> bytes:
    """A valid body whose `extra` field nests `levels` lists (the body itself is one more level)."""
    body = json.dumps({**_valid(bot), "extra": "HERE"}).encode()
    return body.replace(b'"HERE"', b"[" * levels + b"]" * levels)


@pytest.mark.parametrize("case", BAD_BODIES)
def test_a_bad_body_gets_a_clear_errcode_and_nothing_is_stored(case, bot, post_callback):
    """Said to a caller whose secret is right: the query's, since a body that cannot be
    read offers none (a wrong secret is 93000 whatever the body, test_api_auth.py)."""
    make, errcode = BAD_BODIES[case]
    body = make(bot)
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()

    response = post_callback(None, raw=raw, query=f"?secret={bot.secret}")

    assert 400 <= response.status_code < 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["errcode"] == errcode, response.json()
    assert response.json()["errmsg"]
    assert not Message.objects.exists()


@pytest.mark.parametrize("field", ["conversation_id", "msgtype"])
@pytest.mark.parametrize("value", ["", "   ", "\t \n"])
def test_an_empty_or_blank_conversation_id_or_msgtype_is_refused_by_name(
    field, value, bot, post_callback
):
    response = post_callback({**_valid(bot), field: value})

    assert response.status_code == 400
    assert response.json() == {
        "errcode": 40035,
        "errmsg": f"invalid parameter: {field} is empty",
    }
    assert not Message.objects.exists() and not Conversation.objects.exists()


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_answered_as_send_answers_it(
    raw, bot, group, post_callback, send
):
    from_callback = post_callback(None, raw=raw, query=f"?secret={bot.secret}")
    from_send = send(bot.secret, group.conversation_id, raw)

    assert from_callback.status_code == from_send.status_code == 400
    assert (
        from_callback.json()
        == from_send.json()
        == {
            "errcode": 40035,
            "errmsg": "invalid parameter: the body must be a JSON object",
        }
    )
    assert not Message.objects.exists()


def test_the_same_msgid_twice_is_stored_and_forwarded_once(hooked_bot, receiver, post_callback):
    body = callback_body("text", hooked_bot)

    assert post_callback(body).json() == OK
    assert post_callback(body).json() == OK

    assert Message.objects.count() == 1
    create_pending_deliveries()
    create_pending_deliveries()  # a worker woken twice
    assert WebhookDelivery.objects.count() == 1
    forward_due()
    assert len(receiver.requests) == 1


def test_a_metrics_disk_that_is_full_costs_the_count_not_the_message(
    hooked_bot, receiver, post_callback, settings, monkeypatch, caplog
):
    settings.BOTADMIN_METRICS_TOKEN = "metrics-on"
    monkeypatch.setattr(metrics.INBOUND_MESSAGES, "labels", full_disk)

    assert post_callback(callback_body("text", hooked_bot)).json() == OK

    assert Message.objects.count() == 1
    assert "metrics: inbound_stored not recorded" in caplog.text
    create_pending_deliveries()
    forward_due()
    assert len(receiver.requests) == 1


def test_the_same_msgid_for_another_bot_is_a_different_message(make_bot, post_callback):
    one, two = make_bot(), make_bot()
    post_callback(callback_body("text", one))
    post_callback(callback_body("text", two))

    assert Message.objects.count() == 2


def test_messages_without_a_msgid_are_never_deduplicated(bot, post_callback):
    body = callback_body("link", bot)
    assert "msgid" not in body

    post_callback(body)
    post_callback(body)

    assert Message.objects.count() == 2


def test_an_unknown_msgtype_is_stored_raw_and_forwarded_unchanged(
    hooked_bot, receiver, post_callback
):
    sent = {
        "secret": hooked_bot.secret,
        "msgtype": "voice",
        "conversation_id": "wrGroupSales",
        "sender": "zhangsan",
        "voice": {
            "voice_url": "https://cdn.example/v.amr",
            "duration": 3,
            "nested": [1, {"a": None}],
        },
        "msgid": "v-1",
        "timestamp": 1764300002,
        "vendor_field": {"kept": True},
    }

    assert post_callback(sent).json() == OK

    message = Message.objects.get()
    assert message.msgtype == "voice"
    assert message.body == {k: v for k, v in sent.items() if k != "secret"}
    forward_due()
    assert json.loads(receiver.requests[0].body) == sent


def test_an_image_keeps_its_cdn_reference_ready_for_a_stored_copy(bot, post_callback):
    sent = callback_body("image", bot)

    post_callback(sent)

    media = MessageMedia.objects.get()
    assert (media.kind, media.cdn_type, media.cdn) == ("image", "wxwork", sent["image"]["cdn"])
    # The stored copy attaches later, fetched by a worker.
    assert media.status == MessageMedia.Status.PENDING and media.stored_file is None
    assert media.message.msgtype == "image"


def test_a_msgtype_filter_limits_what_an_endpoint_receives(hooked_bot, post_callback):
    endpoint = hooked_bot.webhook_endpoints.get()
    endpoint.msgtypes = ["text"]
    endpoint.save()

    post_callback(callback_body("text", hooked_bot))
    post_callback(callback_body("image", hooked_bot))
    create_pending_deliveries()

    assert list(WebhookDelivery.objects.values_list("message__msgtype", flat=True)) == ["text"]


def test_the_callback_body_is_described_in_the_openapi_document(client, db):
    spec = client.get("/api/openapi.json").json()
    operation = spec["paths"]["/api/callback"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"secret", "msgtype", "conversation_id", "sender", "text", "image"} <= set(
        schema["properties"]
    )
    assert "$ref" not in json.dumps(schema)


def test_a_deeply_nested_body_with_a_wrong_secret_is_refused_without_a_traceback(
    bot, post_callback, caplog
):
    """Once a 503 with a traceback: Python's decoder ran out of recursion. A body that
    cannot be read offers no secret: 93000 (the right one in the query: 7000004)."""
    body = _nested(bot, 10_000).replace(bot.secret.encode(), b"s" * len(bot.secret))

    response = post_callback(None, raw=body)

    assert response.status_code == 401 and response.json()["errcode"] == 93000
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    assert not Message.objects.exists() and not bot.conversations.exists()


def test_a_body_nested_32_levels_deep_is_accepted_and_stored(bot, post_callback):
    response = post_callback(None, raw=_nested(bot, 31))

    assert response.json() == OK
    assert Message.objects.get().body["extra"] == json.loads("[" * 31 + "]" * 31)
