"""The bot's API secret authenticates every /api/ endpoint the same way (botadmin.api.BotSecret)."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from botadmin.api import BotSecret
from botadmin.logging import SecretMaskingExceptionReporterFilter
from conversations.models import Conversation
from conversations.services import rotate_secret
from messaging.models import Message, UploadedMedia
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


def _upload(client, secret):
    media = SimpleUploadedFile("report.pdf", b"%PDF-1.4 weekly report")
    return client.post(f"/api/upload_media?secret={secret}&type=file", {"media": media})


ENDPOINTS = {
    "send": _send,
    "upload_media": _upload,
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


# RFC 9110 11.6.1: a 401 names the scheme to authenticate with; every endpoint takes the
# secret as a Bearer token (RFC 6750), whose error codes say what was wrong with one given.
NO_SECRET_CHALLENGE = 'Bearer realm="botadmin"'
WRONG_SECRET_CHALLENGE = 'Bearer realm="botadmin", error="invalid_token"'
TWO_SECRETS_CHALLENGE = 'Bearer realm="botadmin", error="invalid_request"'


def _challenge_for(secret: str) -> str:
    return WRONG_SECRET_CHALLENGE if secret else NO_SECRET_CHALLENGE


# A request without any secret is told where one goes: a robot URL's key= kept in its
# place, or a forgotten secret=, is then plain from the answer.
NO_SECRET_ERRMSG = (
    "invalid secret: none given; send the bot's API secret as secret= in the query string "
    "or as Authorization: Bearer (WeCom's key= is not read)"
)


def _errmsg_for(secret: str) -> str:
    return "invalid secret" if secret else NO_SECRET_ERRMSG


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("secret", ["", "s" * 43, "not a secret"])
def test_a_wrong_or_missing_secret_is_93000_with_401_everywhere(
    client, bot, group, endpoint, secret
):
    response = ENDPOINTS[endpoint](client, secret)

    assert response.status_code == 401
    assert response.json() == {"errcode": 93000, "errmsg": _errmsg_for(secret)}
    assert response["WWW-Authenticate"] == _challenge_for(secret)
    assert not Message.objects.exists()


def test_a_head_request_without_a_secret_gets_the_challenge_too(client, bot):
    response = client.head("/api/users")

    assert response.status_code == 401 and response.content == b""
    assert response["WWW-Authenticate"] == NO_SECRET_CHALLENGE


def _post_json(path: str, body: bytes | dict):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return lambda client, secret: client.post(
        path.format(secret=secret), data, content_type="application/json"
    )


def _callback_with_body_secret(**fields):
    """A callback whose body carries the secret and `fields` over a valid text message."""
    return lambda client, secret: client.post(
        "/api/callback",
        json.dumps({**callback_body("text"), "secret": secret, **fields}),
        content_type="application/json",
    )


# Requests each wrong in some way besides their secret: answered for what they are with
# the right secret (checked below), and 93000 alone with a wrong or missing one.
BAD_REQUESTS = {
    "send, a body without msgtype": _post_json(
        "/api/send?secret={secret}&conversation_id=wrGroup1", {}
    ),
    "send, not JSON and no conversation_id": _post_json("/api/send?secret={secret}", b"{"),
    "send, multipart": lambda client, secret: client.post(
        f"/api/send?secret={secret}&conversation_id=wrGroup1", {"text": "hi"}
    ),
    "upload_media, not multipart": _post_json(
        "/api/upload_media?secret={secret}&type=file", b"%PDF"
    ),
    "upload_media, an unknown type and no media": lambda client, secret: client.post(
        f"/api/upload_media?secret={secret}&type=video", {}
    ),
    "callback, an empty object": _post_json("/api/callback?secret={secret}", {}),
    "callback, a sender that is an object": _callback_with_body_secret(sender={"id": "u1"}),
    "callback, text.content missing": _callback_with_body_secret(text={}),
    "callback, a NUL in the text": _callback_with_body_secret(text={"content": "a\x00b"}),
    "callback, not JSON": _post_json("/api/callback?secret={secret}", b'{"msgtype": "text",'),
    "callback, a JSON array": _post_json("/api/callback?secret={secret}", b"[1, 2]"),
    "callback, nested too deeply": _post_json(
        "/api/callback?secret={secret}", b"[" * 100 + b"]" * 100
    ),
    "callback, over 256 KB": _post_json(
        "/api/callback?secret={secret}", {"text": {"content": "x" * 300_000}}
    ),
    # client.generic: client.post would encode the body in the declared charset.
    "callback, a charset that is none": lambda client, secret: client.generic(
        "POST", f"/api/callback?secret={secret}", b"{}", "application/json; charset=rot13"
    ),
    "users, q too long": lambda client, secret: client.get(
        f"/api/users?secret={secret}&q={'x' * 101}"
    ),
    "groups, include_inactive not a boolean": lambda client, secret: client.get(
        f"/api/groups?secret={secret}&include_inactive=maybe"
    ),
    "message status, a malformed msgid": lambda client, secret: client.get(
        f"/api/messages/{'x' * 300}?secret={secret}"
    ),
    "cancel, an unknown msgid": lambda client, secret: client.post(
        f"/api/messages/m404/cancel?secret={secret}"
    ),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
@pytest.mark.parametrize("secret", ["", "s" * 43])
def test_a_wrong_secret_is_93000_before_anything_is_said_about_the_request(
    client, bot, group, case, secret
):
    """/api/callback once answered a bad body 40035 listing the fields it lacked,
    whatever the secret: a caller without one learnt the body's rules field by field."""
    response = BAD_REQUESTS[case](client, secret)

    assert (response.status_code, response.json()) == (
        401,
        {"errcode": 93000, "errmsg": _errmsg_for(secret)},
    )
    assert response["WWW-Authenticate"] == _challenge_for(secret)
    assert not Message.objects.exists() and not UploadedMedia.objects.exists()
    assert list(Conversation.objects.all()) == [group]


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_with_the_right_secret_the_same_requests_are_refused_for_what_they_are(
    client, bot, group, case
):
    response = BAD_REQUESTS[case](client, bot.secret)

    assert 400 <= response.status_code < 500 and response.status_code != 401
    assert response.json()["errcode"] not in (0, 93000)
    assert "WWW-Authenticate" not in response
    assert not Message.objects.exists() and not UploadedMedia.objects.exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_current_secret_is_accepted_everywhere(client, bot, group, endpoint):
    response = ENDPOINTS[endpoint](client, bot.secret)

    assert _authenticated(response) and "WWW-Authenticate" not in response


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
    stored = next(n for n, s in enumerate(sql) if s.startswith('INSERT INTO "messaging_message"'))
    reads = [s for s in sql[:stored] if s.startswith("SELECT") and '"conversations_' in s]
    assert len(reads) == 1, sql
    assert '"conversations_bot"' in reads[0] and '"conversations_conversation"' in reads[0]
    # Once stored, only whether the conversation's deletion began meanwhile
    # (messaging/sending.py, `_accepted`): one read of its row by id.
    after = [s for s in sql[stored:] if s.startswith("SELECT") and '"conversations_' in s]
    assert len(after) == 1 and '"deletion_requested_at" IS NULL' in after[0], after
    assert f'"conversations_conversation"."id" = {group.pk}' in after[0]
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
            "description": BotSecret.openapi_description,
        }
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{"BotSecret": []}], (method, path)
            assert "secret" not in {p["name"] for p in operation.get("parameters", [])}


# `Authorization: Bearer <secret>` in place of the query string's (docs/api.md,
# "Authentication"): the query's `secret=` is left empty in these requests.
def _bearer(secret: str, scheme: str = "Bearer") -> Client:
    return Client(headers={"Authorization": f"{scheme} {secret}"})


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_secret_as_a_bearer_token_is_accepted_everywhere(bot, group, endpoint):
    assert _authenticated(ENDPOINTS[endpoint](_bearer(bot.secret), ""))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("secret", ["s" * 43, "not a secret"])
def test_a_wrong_bearer_token_is_93000_with_401_everywhere(bot, group, endpoint, secret):
    response = ENDPOINTS[endpoint](_bearer(secret), "")

    assert (response.status_code, response.json()) == (
        401,
        {"errcode": 93000, "errmsg": "invalid secret"},
    )
    assert response["WWW-Authenticate"] == WRONG_SECRET_CHALLENGE
    assert not Message.objects.exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_bearer_token_and_a_query_secret_that_differ_are_refused(bot, group, make_bot, endpoint):
    """Whichever of the two is right: the caller has a mistake to fix, not a bot to guess."""
    other = make_bot(name="other")
    for header, query in ((bot.secret, other.secret), (other.secret, bot.secret)):
        response = ENDPOINTS[endpoint](_bearer(header), query)

        assert response.status_code == 400
        assert response.json() == {
            "errcode": 7000005,
            "errmsg": "two different secrets: the Authorization header and the query "
            "string (or body) disagree",
        }
        assert response["WWW-Authenticate"] == TWO_SECRETS_CHALLENGE
    assert not Message.objects.exists() and not UploadedMedia.objects.exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_bearer_token_equal_to_the_query_secret_is_accepted(bot, group, endpoint):
    assert _authenticated(ENDPOINTS[endpoint](_bearer(bot.secret), bot.secret))


def test_the_bearer_scheme_is_read_in_any_case_and_other_schemes_are_not_ours(bot, group):
    assert _send(_bearer(bot.secret, scheme="bearer"), "").json()["errcode"] == 0
    # A proxy's Basic credentials in front of botadmin: the query's secret counts.
    assert _send(_bearer("dXNlcjpwYXNz", scheme="Basic"), bot.secret).json()["errcode"] == 0
    assert _send(_bearer("dXNlcjpwYXNz", scheme="Basic"), "").json()["errcode"] == 93000


def test_a_rotated_secret_works_as_a_bearer_token_during_its_grace_period(bot, group):
    old = bot.secret
    rotate_secret(bot, grace=timedelta(hours=1))

    assert _authenticated(_send(_bearer(old), ""))
    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        assert not _authenticated(_send(_bearer(old), ""))


def test_an_error_report_does_not_show_the_authorization_header(rf):
    request = rf.get("/api/users", headers={"Authorization": "Bearer " + "s" * 43})

    meta = SecretMaskingExceptionReporterFilter().get_safe_request_meta(request)

    assert "s" * 43 not in str(meta)
    assert meta["HTTP_AUTHORIZATION"] == "********************"


def test_a_robot_urls_key_in_place_of_the_secret_is_told_where_the_secret_goes(client, bot, group):
    """A script moved from WeCom's robot URL that kept `?key=` (with the bot's secret as
    its value) hears that botadmin reads secret=, and nothing is stored."""
    response = client.post(
        f"/api/send?key={bot.secret}&conversation_id=wrGroup1",
        json.dumps({"msgtype": "text", "text": {"content": "hello"}}),
        content_type="application/json",
    )

    assert response.status_code == 401
    assert response.json() == {"errcode": 93000, "errmsg": NO_SECRET_ERRMSG}
    assert response["WWW-Authenticate"] == NO_SECRET_CHALLENGE
    assert not Message.objects.exists()
