import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from botadmin.api import envelope
from botadmin.errors import Err
from messaging.models import Message
from messaging.sending import accept_outbound

TEXT = {"msgtype": "text", "text": {"content": "deploy finished"}}


def test_an_unknown_api_path_answers_in_the_errcode_envelope(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["errcode"] == 7000404
    assert "errmsg" in response.json()


@pytest.mark.parametrize("path", ["/api/nothing", "/api/"])
def test_a_post_to_an_unknown_api_path_is_not_a_csrf_page(client, path):
    client = type(client)(enforce_csrf_checks=True)
    response = client.post(path, data=b"{}", content_type="application/json")
    assert response.status_code == 404 and response.json()["errcode"] == 7000404


def test_openapi_and_docs_are_served_without_external_cdns(client):
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    assert json.loads(spec.content)["info"]["title"] == "botadmin API"
    docs = client.get("/api/docs").content.decode()
    assert "swagger" in docs.lower()
    assert "cdn.jsdelivr" not in docs and "unpkg.com" not in docs


def test_an_answer_can_carry_a_status_field_beside_its_http_status():
    answer = envelope(0, "ok", {"status": "sent", "msgid": "m1"}, http_status=202)

    assert answer.status_code == 202
    assert answer.content == b'{"errcode":0,"errmsg":"ok","status":"sent","msgid":"m1"}'


def test_an_answer_carries_fields_named_as_the_envelopes_own_options():
    """A body field called `headers` or `http_status` is a field like any other, apart from
    the response's headers and status."""
    answer = envelope(
        0,
        "ok",
        {"headers": {"From": "a"}, "http_status": 500, "fields": 1},
        http_status=202,
        headers={"Idempotent-Replayed": "true"},
    )

    assert answer.status_code == 202
    assert answer["Idempotent-Replayed"] == "true" and "From" not in answer
    assert json.loads(answer.content) == {
        "errcode": 0,
        "errmsg": "ok",
        "headers": {"From": "a"},
        "http_status": 500,
        "fields": 1,
    }


@pytest.mark.parametrize("field", ["errcode", "errmsg"])
def test_a_field_cannot_replace_the_envelopes_errcode_or_errmsg(field):
    """The answer would contradict the errcode its metrics count (`response.errcode`)."""
    with pytest.raises(ValueError, match=field):
        envelope(0, "ok", {field: 1})


def test_healthz(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("GET", "/api/callback", "POST"),
        ("TRACE", "/api/send", "POST"),
        ("PUT", "/api/callback", "POST"),
        ("POST", "/api/users", "GET, HEAD"),
        ("DELETE", "/api/groups", "GET, HEAD"),
        ("POST", "/api/messages/m1", "GET, HEAD"),
        ("GET", "/api/messages/m1/cancel", "POST"),
        ("POST", "/api/openapi.json", "GET, HEAD"),
        ("PUT", "/api/openapi.json", "GET, HEAD"),
        ("DELETE", "/api/openapi.json", "GET, HEAD"),
        ("POST", "/api/docs", "GET, HEAD"),
    ],
)
def test_a_wrong_method_answers_the_envelope_with_allow(client, db, method, path, allowed):
    """Never Django's CSRF refusal: callers send no token, and the test client checks it."""
    client = type(client)(enforce_csrf_checks=True)
    response = client.generic(method, path)

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == allowed
    assert response.json() == {
        "errcode": 7000405,
        "errmsg": f"method not allowed: {method}; {path} takes {allowed}",
    }


@pytest.mark.parametrize("path", ["/api/users", "/api/groups", "/api/messages/{msgid}"])
def test_head_on_a_get_endpoint_answers_as_get_without_the_body(client, bot, group, path):
    """RFC 9110: a resource that takes GET takes HEAD; it was 405."""
    message = accept_outbound(
        bot=bot, conversation_id="wrGroup1", body=TEXT, source=Message.Source.API
    )
    url = path.format(msgid=message.msgid)
    got = client.get(url, {"secret": bot.secret})
    head = client.head(url, {"secret": bot.secret})
    wrong_secret = client.head(url, {"secret": "wrong"})

    assert (head.status_code, head.content) == (200, b"")
    assert head["Content-Type"] == got["Content-Type"] == "application/json"
    assert head["Content-Length"] == str(len(got.content))
    assert (wrong_secret.status_code, wrong_secret.content) == (401, b"")
    assert int(wrong_secret["Content-Length"]) > 0


def test_every_success_is_the_same_json_counted_under_errcode_0(client, bot, group):
    """The cancel answer was a plain dict (`application/json; charset=utf-8`), and it and
    the lists carried no errcode for ApiRequestsMiddleware to count: "none"."""
    later = timezone.now() + timedelta(hours=1)
    scheduled = accept_outbound(
        bot=bot, conversation_id="wrGroup1", body=TEXT, source=Message.Source.API, send_at=later
    )
    secret = {"secret": bot.secret}
    answers = {
        "users": client.get("/api/users", secret),
        "groups": client.get("/api/groups", secret),
        "status": client.get(f"/api/messages/{scheduled.msgid}", secret),
        "cancel": client.post(f"/api/messages/{scheduled.msgid}/cancel?secret={bot.secret}"),
        "send": client.post(
            f"/api/send?secret={bot.secret}&conversation_id=wrGroup1",
            TEXT,
            content_type="application/json",
        ),
    }

    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.content)
        assert answer["Content-Type"] == "application/json", name
        assert (answer.errcode, answer.json()["errcode"]) == (0, 0), name


def test_head_on_a_post_endpoint_is_405_without_the_body(client, db):
    head = client.head("/api/send")

    assert (head.status_code, head["Allow"], head.content) == (405, "POST", b"")
    assert head["Content-Type"] == "application/json"


def test_a_request_for_an_unknown_host_answers_the_envelope(client, db):
    response = client.get("/api/users", headers={"host": "evil.example"})

    assert response.status_code == 400
    assert response.json() == {
        "errcode": 40035,
        "errmsg": "invalid parameter: Host 'evil.example' is not allowed (ALLOWED_HOSTS)",
    }


def test_a_too_large_form_answers_the_envelope_not_django_html(client, db, settings):
    """Django's own limits answer before our view: still the envelope."""
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    fields = "&".join(f"f{n}=1" for n in range(20))

    response = client.post(
        "/api/messages/m1/cancel?" + fields,
        data=fields,
        content_type="application/x-www-form-urlencoded",
    )

    assert response["Content-Type"] == "application/json"
    assert 400 <= response.status_code < 500 and response.json()["errcode"]


def test_the_interactive_docs_stay_html(client):
    assert client.get("/api/docs")["Content-Type"].startswith("text/html")


DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_docs_list_every_errcode_with_its_http_status():
    """One row per (errcode, status): WeCom's 40006 (file size) is 400 for a file too
    small and 413 for one too large."""
    rows = re.findall(r"^\| (-?\d+) \| (\d{3}) \|", DOCS.read_text(), re.MULTILINE)

    assert {(int(code), int(status)) for code, status in rows if code != "0"} == {
        (error.code, error.status) for error in Err
    }


def test_docs_list_the_statuses_each_endpoint_answers_as_openapi_does(client, db):
    documented = {
        (method, path): {int(s) for s in statuses.split(", ")}
        for method, path, statuses in re.findall(
            r"^\| `(GET|POST) (/api/\S+)` \| ([\d, ]+) \|$", DOCS.read_text(), re.MULTILINE
        )
    }
    spec = client.get("/api/openapi.json").json()
    declared = {
        (method.upper(), path): {int(status) for status in operation["responses"]}
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }

    assert documented == declared


def test_a_raw_control_character_is_named_with_where_it_is(client, bot):
    """/api/callback reads JSON strictly (/api/send takes raw line breaks, as WeCom's
    robot does); the errmsg said "Invalid control character at at line 1…"."""
    answer = client.post(
        f"/api/callback?secret={bot.secret}", b'{"a": "x\x01"}', content_type="application/json"
    )

    assert (answer.status_code, answer.json()) == (
        400,
        {
            "errcode": 7000001,
            "errmsg": "Warning: wrong json format. The body is not JSON: "
            "Invalid control character at line 1 column 9",
        },
    )


@pytest.mark.parametrize(
    "raw, problem",
    [
        (b"", "Expecting value at line 1 column 1"),
        (b"not json", "Expecting value at line 1 column 1"),
        (b'{"msgtype": "text",\n  }', "Expecting property name enclosed in double quotes at line 2 column 3"),
        (b'{"msgtype": "text", "x": NaN}', "NaN is not a JSON value"),
        (b'{"msgtype": "text", "x": "\xff"}', "it is not UTF-8"),
        (b'{"msgtype": "text", "x": ' + b"9" * 5000 + b"}", "a number is too long: at most 4300 digits"),
    ],
)  # fmt: skip
def test_every_endpoint_words_a_body_that_is_not_json_alike(client, bot, group, raw, problem):
    """/api/send and /api/callback once answered `The body is not JSON.` and Python's
    `Expecting value: line 1 column 1 (char 0)`."""
    answers = [
        client.post(f"/api/{path}?secret={bot.secret}&conversation_id=wrGroup1", raw, content_type="application/json")
        for path in ("send", "callback")
    ]  # fmt: skip

    expected = {
        "errcode": 7000001,
        "errmsg": f"Warning: wrong json format. The body is not JSON: {problem}",
    }
    assert [(a.status_code, a.json()) for a in answers] == [(400, expected)] * 2
