"""/api/openapi.json tells the truth: schemathesis drives every operation of a running
server (pytest-django's live server) with a valid secret, with valid and invalid
requests, and checks that each answer's status is documented, its Content-Type is
the documented one, its body matches the documented schema, and nothing is a 5xx."""

from datetime import timedelta

import pytest
import requests
import schemathesis
from django.core.cache import cache
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conversations.models import Conversation
from messaging.models import DeliveryAttempt, Message
from tests.messaging.support import callback_body

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    ("POST", "/api/send"),
    ("POST", "/api/upload_media"),
    ("POST", "/api/callback"),
    ("GET", "/api/users"),
    ("GET", "/api/groups"),
    ("GET", "/api/messages/{msgid}"),
    ("POST", "/api/messages/{msgid}/cancel"),
]
# Enough to reach every documented error of an operation; the suite stays quick.
EXAMPLES = 25


@pytest.fixture
def api_schema(live_server):
    return schemathesis.openapi.from_url(live_server.url + "/api/openapi.json")


def test_every_api_operation_is_checked(api_schema):
    documented = {
        (method.upper(), path)
        for path, operations in api_schema.raw_schema["paths"].items()
        for method in operations
    }
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize("method, path", OPERATIONS)
def test_every_answer_conforms_to_the_openapi_document(
    api_schema, bot, group, make_bot, make_conversation, method, path
):
    make_conversation(bot, "wmUser1", kind=Conversation.Kind.USER, name="张伟")
    operation = api_schema[path][method]
    secret = bot.secret
    if path == "/api/upload_media":  # a bot that sends files, so that uploads can succeed
        secret = make_bot(name="robot", connector="wecom_robot", agent_url="").secret

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(GenerationMode.POSITIVE)
        | operation.as_strategy(GenerationMode.NEGATIVE)
    )
    def check(case):
        cache.clear()  # the send rate limit is not what is tested here
        case.query = {**(case.query or {}), "secret": secret}
        if isinstance(case.body, dict) and "secret" in case.body:
            case.body["secret"] = secret  # the callback's body secret wins over the query
        case.call_and_validate(checks=CHECKS)

    check()


def test_each_operation_s_success_answer_matches_its_documented_schema(
    api_schema, live_server, bot, group, make_bot
):
    """Random requests rarely succeed (an unknown msgid, conversation): real ones here."""
    api = live_server.url + "/api"
    secret = {"secret": bot.secret}
    text = {"msgtype": "text", "text": {"content": "hi"}}
    to_group = {**secret, "conversation_id": group.conversation_id}

    sent = requests.post(f"{api}/send", params=to_group, json=text, timeout=30)
    msgid = sent.json()["msgid"]
    message = Message.objects.get(msgid=msgid)
    DeliveryAttempt.objects.create(
        message=message, started_at=message.created_at, outcome="retry", response_text="busy"
    )
    later = {**to_group, "send_at": (timezone.now() + timedelta(days=30)).isoformat()}
    scheduled = requests.post(f"{api}/send", params=later, json=text, timeout=30).json()["msgid"]
    robot = make_bot(name="robot", connector="wecom_robot", agent_url="", agent_token="")
    answers = {
        ("POST", "/api/send"): sent,
        ("POST", "/api/upload_media"): requests.post(
            f"{api}/upload_media",
            params={"secret": robot.secret, "type": "file"},
            files={"media": ("report.pdf", b"%PDF-1.4 report")},
            timeout=30,
        ),
        ("POST", "/api/callback"): requests.post(
            f"{api}/callback", json=callback_body("text", bot), timeout=30
        ),
        ("GET", "/api/users"): requests.get(f"{api}/users", params=secret, timeout=30),
        ("GET", "/api/groups"): requests.get(f"{api}/groups", params=secret, timeout=30),
        ("GET", "/api/messages/{msgid}"): requests.get(
            f"{api}/messages/{msgid}", params=secret, timeout=30
        ),
        ("POST", "/api/messages/{msgid}/cancel"): requests.post(
            f"{api}/messages/{scheduled}/cancel", params=secret, timeout=30
        ),
    }

    assert set(answers) == set(OPERATIONS)
    for (method, path), response in answers.items():
        assert response.status_code == 200, (path, response.text)
        assert response.json()["errcode"] == 0
        api_schema[path][method].validate_response(response)
