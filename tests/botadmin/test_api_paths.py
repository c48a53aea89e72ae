"""Every /api/ URL answers the same with a trailing slash, and nothing under /api/ (or
WeCom's /cgi-bin/) is HTML, not even an error Django answers before routing.

Tools and people add a slash to the URL they paste (`/api/send/`). A redirect to the
URL without it would lose a POST's body (clients repeat it as a GET, or not at all), so
the path is answered as if the slash were not there.
"""

import json
from datetime import timedelta

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from devtools.processes import database_url
from messaging.models import Message, UploadedMedia
from tests.messaging.conftest import running_gunicorn
from tests.polling import wait_until

TEXT = {"msgtype": "text", "text": {"content": "deploy finished"}}
SEND_URL = "botadmin's send URL is /api/send?secret=SECRET&conversation_id=CONVERSATION_ID"


def envelope(response) -> tuple[int, dict]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response.status_code, response.json()


def test_a_tool_posting_to_send_with_a_trailing_slash_gets_its_message_stored(
    live_server, bot, group
):
    response = requests.post(
        live_server.url + "/api/send/",
        params={"secret": bot.secret, "conversation_id": "wrGroup1"},
        json=TEXT,
        allow_redirects=False,
        timeout=30,
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["errcode"] == 0
    stored = Message.objects.get(msgid=answer["msgid"])
    assert (stored.conversation.conversation_id, stored.body) == ("wrGroup1", TEXT)


def test_a_path_with_a_doubled_leading_slash_is_the_api_path(
    transactional_db, bot, group, tmp_path
):
    """A base URL ending in / joined with /api/send: `POST //api/send` got the console's
    HTML 404. Under gunicorn, which passes the path on as sent (Python's http.server,
    behind live_server, collapses the slashes itself)."""
    secret = {"secret": bot.secret}
    with running_gunicorn(database_url(), tmp_path / "server.log") as base_url:
        base = base_url + "/"
        sent = requests.post(
            base + "/api/send",
            params={**secret, "conversation_id": "wrGroup1"},
            json=TEXT,
            timeout=30,
        )
        listed = requests.get(base + "//api/groups/", params=secret, timeout=30)
        single = requests.get(base_url + "/api/groups", params=secret, timeout=30)
        unknown = requests.get(base + "/api/no-such-thing", timeout=30)

    assert sent.status_code == 200, sent.text
    assert Message.objects.get(msgid=sent.json()["msgid"]).body == TEXT
    assert listed.json() == single.json()
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"errcode": 7000404, "errmsg": f"no such endpoint: //api/no-such-thing; {SEND_URL}"},
    )


@pytest.mark.parametrize("path", ["/api/users", "/api/groups"])
def test_the_lists_answer_the_same_with_a_trailing_slash(client, bot, group, path):
    without = client.get(path, {"secret": bot.secret})
    assert without.status_code == 200 and without.json()["errcode"] == 0

    assert envelope(client.get(path + "/", {"secret": bot.secret})) == envelope(without)


def test_upload_media_with_a_trailing_slash_takes_the_upload(client, make_bot):
    robot = make_bot(name="alerts", connector="wecom_robot", agent_url="")

    response = client.post(
        "/api/upload_media/",
        {"media": SimpleUploadedFile("report.pdf", b"%PDF-1.4 weekly report")},
        query_params={"secret": robot.secret, "type": "file"},
    )

    status, answer = envelope(response)
    assert (status, answer["errcode"]) == (200, 0)
    assert UploadedMedia.objects.filter(bot=robot, name="report.pdf").exists()


def test_a_scheduled_message_is_read_and_cancelled_through_urls_with_a_trailing_slash(
    client, bot, group
):
    accepted = client.post(
        "/api/send/",
        json.dumps({**TEXT, "send_at": (timezone.now() + timedelta(days=30)).isoformat()}),
        content_type="application/json",
        query_params={"secret": bot.secret, "conversation_id": "wrGroup1"},
    ).json()
    msgid = accepted["msgid"]

    status = client.get(f"/api/messages/{msgid}/", {"secret": bot.secret})
    assert envelope(status)[0] == 200
    assert status.json()["message"]["status"] == "scheduled"

    cancel = client.post(f"/api/messages/{msgid}/cancel/", query_params={"secret": bot.secret})
    assert envelope(cancel)[0] == 200
    assert Message.objects.get(msgid=msgid).status == "cancelled"


def test_errors_are_those_of_the_path_without_the_slash(client, bot, group):
    """The slash changes nothing: a wrong secret, a wrong method and a missing
    conversation answer as they do without it, not 404."""
    wrong_secret = client.get("/api/users/", {"secret": "nope"})
    assert envelope(wrong_secret) == envelope(client.get("/api/users", {"secret": "nope"}))
    assert wrong_secret.status_code == 401

    wrong_method = client.get("/api/send/")
    assert wrong_method.status_code == 405 and wrong_method["Allow"] == "POST"
    assert wrong_method.json()["errcode"] == 7000405

    no_conversation = client.post(
        "/api/send/", json.dumps(TEXT), "application/json", query_params={"secret": bot.secret}
    )
    assert envelope(no_conversation)[1]["errcode"] == 40035


def test_the_docs_and_the_openapi_document_answer_with_a_trailing_slash(client, db):
    assert client.get("/api/openapi.json/").json() == client.get("/api/openapi.json").json()
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and docs["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/no-such-thing/"),
        ("POST", "/api/sendx/"),
        ("POST", "/api/send/extra"),
        ("POST", "/api/send//"),
        ("GET", "/api/messages/m1/cancel/extra/"),
        ("GET", "/api/"),
        ("GET", "/api//"),
        ("POST", "/api"),
        ("GET", "/api/%E4%BD%A0%E5%A5%BD/"),
        # WeCom's own paths: a robot tool given botadmin's host got Django's HTML 404.
        ("POST", "/cgi-bin/webhook/send?key=robot-key-1"),
        ("POST", "/cgi-bin/webhook/upload_media?key=robot-key-1&type=file"),
        ("GET", "/cgi-bin/gettoken?corpid=ww1&corpsecret=app-secret-1"),
        ("POST", "/cgi-bin/webhook/send/"),
        ("GET", "/cgi-bin"),
    ],
)
def test_an_unknown_api_or_wecom_path_is_a_json_404_naming_the_send_url(
    client, db, settings, method, path
):
    """Never HTML nor a redirect; the errmsg names the path without its query string
    (WeCom's key) and botadmin's send URL."""
    settings.DEBUG = True  # Django's own 404 page would be HTML

    response = client.generic(method, path, b"{}", "application/json")

    status, answer = envelope(response)
    assert status == 404
    assert answer["errcode"] == 7000404 and answer["errmsg"].startswith("no such endpoint: /")
    assert answer["errmsg"].endswith(SEND_URL)
    assert "robot-key-1" not in answer["errmsg"] and "app-secret-1" not in answer["errmsg"]


@pytest.mark.parametrize(
    "path", ["/cgi-bin/webhook/send?key=robot-key-1", "/cgi-bin", "/api/send?secret=s-1"]
)
def test_a_host_not_in_allowed_hosts_on_an_api_or_wecom_path_is_the_envelope(client, db, path):
    """Django refuses the Host before any view runs: its HTML 400 under /api/ and
    WeCom's /cgi-bin/ alike is the envelope, which names neither the key nor the secret."""
    response = client.post(path, b"{}", "application/json", headers={"host": "evil.example"})

    assert envelope(response) == (
        400,
        {
            "errcode": 40035,
            "errmsg": "invalid parameter: Host 'evil.example' is not allowed (ALLOWED_HOSTS)",
        },
    )


def test_a_robot_key_posted_to_wecoms_path_reaches_no_log(transactional_db, tmp_path):
    """The tool's WeCom robot key is in the query string, as WeCom takes it: the access
    line masks it and Django's own lines (LOG_LEVEL=DEBUG) name the path only. A tool
    joining a base URL ending in / with WeCom's path (`//cgi-bin/…`, which gunicorn
    passes on as sent) gets the same envelope, not the console's HTML 404."""
    key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    log_path = tmp_path / "server.log"
    with running_gunicorn(database_url(), log_path) as base_url:
        single = requests.post(base_url + f"/cgi-bin/webhook/send?key={key}", json=TEXT, timeout=30)
        doubled = requests.post(
            base_url + f"//cgi-bin/webhook/send?key={key}", json=TEXT, timeout=30
        )
        refused = requests.post(
            base_url + f"/cgi-bin/webhook/send?key={key}",
            json=TEXT,
            headers={"Host": "evil.example"},
            timeout=30,
        )
        assert wait_until(lambda: "//cgi-bin/webhook/send?key=" in log_path.read_text(), 10)
        assert wait_until(lambda: '" 400 ' in log_path.read_text(), 10)

    for response, path in ((single, "/cgi-bin/webhook/send"), (doubled, "//cgi-bin/webhook/send")):
        assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
        assert (response.status_code, response.json()) == (
            404,
            {"errcode": 7000404, "errmsg": f"no such endpoint: {path}; {SEND_URL}"},
        )
    assert refused.headers["Content-Type"].startswith("application/json"), refused.text[:200]
    assert (refused.status_code, refused.json()["errcode"]) == (400, 40035)
    log = log_path.read_text()
    assert '"POST /cgi-bin/webhook/send?key=******** HTTP/1.1" 404' in log
    assert '"POST /cgi-bin/webhook/send?key=******** HTTP/1.1" 400' in log
    assert '"POST //cgi-bin/webhook/send?key=******** HTTP/1.1" 404' in log
    assert key not in log and key[:8] not in log
