"""What operators read of an agent's answer: botadmin's words, the HTTP status and, from
the protocol's envelope, the agent's errcode and errmsg; never the body, which goes to the
log with its secrets masked. A bot admin sets the agent URL, so the answer may be any
internal service's (security review 2, H1: a cloud's metadata service, a local API)."""

import json

import pytest
from django.urls import reverse

from botadmin import reasons
from connectors.base import ConnectorError, Outcome
from connectors.registry import connector_for
from conversations.sync import sync_now
from devtools.receiver import Receiver
from messaging import media_fetch
from messaging.delivery import deliver
from messaging.models import Message, MessageMedia
from tests.messaging.support import callback_body

SECRET = "INTERNAL-ONLY-wJalrXUtnFEMI"
# What an internal service answers any request with: no envelope, credentials inside.
INTERNAL = json.dumps({"Code": "Success", "AccessKeyId": "ASIAXXXX", "SecretAccessKey": SECRET})
ROLE_PATH = "/latest/meta-data/iam/security-credentials/role?x="  # `?x=` swallows `/send`


@pytest.fixture
def internal():
    """An internal-only HTTP service on 127.0.0.1, answering every request."""
    with Receiver() as service:
        service.respond(200, INTERNAL.encode(), {"Content-Type": "application/json"})
        yield service


@pytest.fixture
def checked(settings):
    """Production's URL checks: BOTADMIN_ALLOW_PRIVATE_URLS off, no agent networks."""
    settings.BOTADMIN_ALLOW_PRIVATE_URLS = False
    settings.BOTADMIN_AGENT_NETWORKS = []


def test_a_bot_admin_pointing_the_agent_url_at_an_internal_service_never_reads_its_answer(
    checked, client, make_bot, make_conversation, make_operator, internal, caplog
):
    bot = make_bot(name="b")
    group = make_conversation(bot, "wrG")
    client.force_login(make_operator("botadmin", bot))
    target = f"http://127.0.0.1:{internal.port}{ROLE_PATH}"
    saved = client.post(
        reverse("console:bot_connector", args=[bot.pk]),
        {"settings-agent_url": target, "settings-agent_token": ""},
    )
    assert saved.status_code == 302  # loopback: an agent may sit beside botadmin
    tested = client.post(reverse("console:bot_test", args=[bot.pk]), follow=True)
    sync_now(bot, "console")
    client.post(reverse("console:reply", args=[bot.pk, group.pk]), {"content": "hi"})
    message = Message.objects.filter(conversation=group).latest("pk")

    assert deliver(message.pk).result == "retry"

    assert ("POST", ROLE_PATH + "/send") in [(r.method, r.path) for r in internal.requests]
    message.refresh_from_db()
    assert message.last_error == "protocol error: no errcode"
    trace = reverse("console:message_trace", args=[bot.pk, group.pk, message.pk])
    api = client.get(f"/api/messages/{message.msgid}", {"secret": bot.secret})
    shown = {
        "test connection": tested.content.decode(),
        "bot page": client.get(reverse("console:bot", args=[bot.pk])).content.decode(),
        "trace": client.get(trace).content.decode(),
        "audit log": client.get(reverse("console:audit")).content.decode(),
        "audit CSV": b"".join(client.get(reverse("console:audit_csv"))).decode(),
        "API": api.content.decode(),
    }
    assert api.json()["message"]["last_error"] == "protocol error: no errcode"
    assert "协议错误" in shown["trace"]  # what botadmin made of it, in the operator's language
    assert {where for where, text in shown.items() if "ASIAXXXX" in text or SECRET in text} == set()
    # The server's log has the answer, its secret masked.
    assert "Agent answered a send with HTTP 200" in caplog.text and "ASIAXXXX" in caplog.text
    assert SECRET not in caplog.text


def test_media_from_an_internal_service_shows_only_its_status(
    checked, client, make_bot, make_operator, internal, caplog
):
    internal.respond(500, f"<h1>{INTERNAL}</h1>".encode(), {"Content-Type": "text/html"})
    bot = make_bot(name="b", agent_url=f"http://127.0.0.1:{internal.port}{ROLE_PATH}")
    image = json.dumps(callback_body("image", bot))
    assert client.post("/api/callback", image, "application/json").json()["errcode"] == 0
    media = MessageMedia.objects.get(message__bot=bot)

    assert media_fetch.fetch(media.pk) == "pending"  # a 5xx: tried again later

    media.refresh_from_db()
    assert media.error == "agent answered HTTP 500"
    client.force_login(make_operator("botadmin", bot))
    history = reverse("console:history", args=[bot.pk, media.message.conversation_id])
    assert "ASIAXXXX" not in client.get(history).content.decode()
    assert "ASIAXXXX" in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [
        (500, b"<html>Internal Server Error</html>", "agent busy or down (HTTP 500)"),
        (404, b"<html>Not Found</html>", "protocol error (HTTP 404)"),
        (302, b"", "protocol error (HTTP 302)"),
        (200, b"[1, 2]", "protocol error: no errcode"),
        (200, b'{"errcode": "0", "errmsg": "ok"}', "protocol error: no errcode"),
        (200, b"Welcome to nginx!", "protocol error: not JSON"),
        (
            503,
            b'{"errcode": -1, "errmsg": "busy"}',
            "agent busy or down (HTTP 503): errcode -1, busy",
        ),
        (400, b'{"errcode": 40035}', "protocol error (HTTP 400): errcode 40035"),
    ],
)
def test_an_answer_reads_as_its_status_and_an_envelopes_errcode_and_errmsg_only(
    make_bot, make_conversation, status, body, detail
):
    with Receiver() as service:
        service.respond(status, body)
        bot = make_bot(agent_url=service.url())
        result = connector_for(bot).send(
            "m1", make_conversation(bot, "wrG"), {"msgtype": "text", "text": {"content": "hi"}}
        )

    assert result.outcome == Outcome.RETRY and result.detail == detail


def test_a_contact_page_naming_a_key_twice_is_a_protocol_error_naming_the_key(make_bot):
    # Every call but a send reads the envelope alike (contacts, capabilities, media).
    with Receiver() as service:
        service.respond(200, b'{"errcode": 1, "data": [], "next_cursor": null, "errcode": 0}')
        bot = make_bot(agent_url=service.url())
        with pytest.raises(ConnectorError) as raised:
            connector_for(bot).fetch_contacts("group")

    assert reasons.of(raised.value) == "protocol error: duplicate key errcode"
    assert "next_cursor" in raised.value.detail  # the answer, for the log


def test_an_envelopes_errmsg_is_one_line_without_secrets_and_shortened(make_bot, make_conversation):
    errmsg = "refused:\n\u202etxt.exe token=abc123 " + "x" * 500
    with Receiver() as service:
        service.respond(200, json.dumps({"errcode": 40058, "errmsg": errmsg}).encode())
        bot = make_bot(agent_url=service.url())
        result = connector_for(bot).send(
            "m1", make_conversation(bot, "wrG"), {"msgtype": "text", "text": {"content": "hi"}}
        )

    assert result.outcome == Outcome.FAILED and result.errcode == 40058
    assert result.detail.startswith("refused: txt.exe token=******** xxx")
    assert len(result.detail) == 200 and result.detail.endswith("…")
