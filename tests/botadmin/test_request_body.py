"""botadmin/request_body.py through gunicorn, as `make run` serves: a body sent with
`Transfer-Encoding: chunked` (no Content-Length) is read, within each endpoint's limit."""

from __future__ import annotations

import http.client
import io
import json
import socket

import pytest
import requests
from django.core.exceptions import RequestDataTooBig
from urllib3 import encode_multipart_formdata

from botadmin.request_body import Request, body_length
from devtools.processes import database_url
from messaging.models import Message, UploadedMedia
from tests.messaging.conftest import running_gunicorn
from tests.messaging.support import callback_body

TEXT = {"msgtype": "text", "text": {"content": "streamed by an agent"}}
REPORT = b"%PDF-1.4 weekly report " * 400


def _address(base_url: str) -> tuple[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    return host, int(port)


def _post_chunked(base_url: str, path: str, body: bytes, content_type: str) -> tuple[int, dict]:
    """POST `body` in 1000-byte chunks, as Go's io.Reader or Node's req.write sends it."""
    connection = http.client.HTTPConnection(*_address(base_url), timeout=30)
    try:
        connection.request(
            "POST",
            path,
            (body[start : start + 1000] for start in range(0, len(body), 1000)),
            {"Content-Type": content_type, "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


def _upload_body(content: bytes) -> tuple[bytes, str]:
    return encode_multipart_formdata({"media": ("周报.pdf", content, "application/pdf")})


def _choose_english_with_a_chunked_form(base_url: str) -> requests.Response:
    """Django's language switcher (a form under CSRF protection), its body a generator:
    requests sends it chunked. The CSRF token is in the body."""
    token = "t" * 32
    form = f"csrfmiddlewaretoken={token}&language=en&next=/healthz"
    return requests.post(
        base_url + "/i18n/setlang/",
        data=(part.encode() for part in form.partition("&language")),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        cookies={"csrftoken": token},
        allow_redirects=False,
        timeout=30,
    )


def test_chunked_bodies_are_read_by_send_callback_upload_media_and_forms(
    transactional_db, bot, group, make_bot, tmp_path
):
    robot = make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")
    with running_gunicorn(database_url(), tmp_path / "server.log") as base_url:
        sent = _post_chunked(
            base_url,
            f"/api/send?secret={bot.secret}&conversation_id=wrGroup1",
            json.dumps(TEXT).encode(),
            "application/json",
        )
        reported = _post_chunked(
            base_url,
            "/api/callback",
            json.dumps(callback_body("text", bot), ensure_ascii=False).encode(),
            "application/json",
        )
        body, content_type = _upload_body(REPORT)
        uploaded = _post_chunked(
            base_url, f"/api/upload_media?secret={robot.secret}&type=file", body, content_type
        )
        chose = _choose_english_with_a_chunked_form(base_url)

    assert sent[0] == 200 and sent[1]["errcode"] == 0, sent
    assert Message.objects.get(msgid=sent[1]["msgid"]).body == TEXT
    assert reported == (200, {"errcode": 0, "errmsg": "ok"})
    assert Message.objects.filter(direction="in", bot=bot).count() == 1
    assert uploaded[0] == 200 and uploaded[1]["errcode"] == 0, uploaded
    assert UploadedMedia.objects.get(media_id=uploaded[1]["media_id"]).size == len(REPORT)
    # Django's own parsers read it too (the CSRF token is in the body).
    assert chose.request.headers["Transfer-Encoding"] == "chunked"
    assert (chose.status_code, chose.headers["Location"]) == (302, "/healthz"), chose.text[:300]
    assert chose.cookies["django_language"] == "en"


def _answer_before_the_body_ends(base_url: str, path: str, body_bytes: int) -> tuple[int, dict]:
    """Send `body_bytes` of a chunked body and no last chunk: only a server that stops
    reading at its limit can answer."""
    with socket.create_connection(_address(base_url), timeout=30) as sock:
        host, port = _address(base_url)
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = b"[" * 1000
        for _ in range(body_bytes // len(chunk)):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, json.loads(answer.read())


def test_a_chunked_body_over_the_limit_is_413_after_reading_one_byte_past_it(
    transactional_db, bot, group, make_bot, tmp_path
):
    robot = make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")
    env = {"BOTADMIN_SEND_MAX_BODY_BYTES": "5000", "BOTADMIN_UPLOAD_MEDIA_MAX_BODY_BYTES": "5000"}
    with running_gunicorn(database_url(), tmp_path / "server.log", env) as base_url:
        send = f"/api/send?secret={bot.secret}&conversation_id=wrGroup1"
        unfinished = _answer_before_the_body_ends(base_url, send, 20_000)
        # The limits of /api/callback (256 KB) and /api/upload_media are theirs.
        reported = _post_chunked(base_url, "/api/callback", b" " * 300_000, "application/json")
        body, content_type = _upload_body(REPORT)
        uploaded = _post_chunked(
            base_url, f"/api/upload_media?secret={robot.secret}&type=file", body, content_type
        )
        # Just within the limit: still read whole.
        padded = json.dumps(TEXT).encode().ljust(5000)
        sent = _post_chunked(base_url, send, padded, "application/json")

    assert unfinished == (
        413,
        {"errcode": 7000002, "errmsg": "request body too large: at most 5000 bytes"},
    )
    assert reported[0] == 413 and reported[1]["errcode"] == 7000002, reported
    assert uploaded[0] == 413 and uploaded[1]["errcode"] == 7000002, uploaded
    assert sent[0] == 200 and sent[1]["errcode"] == 0, sent
    assert not UploadedMedia.objects.exists()


def _request(body: bytes, content_type: str, **environ) -> Request:
    """The request gunicorn hands over for a chunked body: no CONTENT_LENGTH, its input
    ending where the body does."""
    return Request(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/i18n/setlang/",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "wsgi.url_scheme": "http",
            "CONTENT_TYPE": content_type,
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            **environ,
        }
    )


def test_where_no_endpoint_names_a_limit_a_chunked_body_has_djangos(settings):
    """DATA_UPLOAD_MAX_MEMORY_SIZE, refused as Django refuses a declared length over it,
    after reading one byte past it."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    form = "application/x-www-form-urlencoded"
    small = _request(b"language=en&next=/healthz", form)
    large = _request(b"language=" + b"x" * 1000, form)
    read = _request(b"x" * 1000, "application/json")

    assert small.POST.dict() == {"language": "en", "next": "/healthz"}
    assert small.META["CONTENT_LENGTH"] == "25"
    with pytest.raises(RequestDataTooBig):
        large.POST  # noqa: B018
    assert large.environ["wsgi.input"].tell() == 101
    with pytest.raises(RequestDataTooBig):
        read.body  # noqa: B018


def test_a_body_with_a_content_length_is_left_to_django():
    request = _request(
        b"language=en&rest-not-declared", "application/x-www-form-urlencoded", CONTENT_LENGTH="11"
    )

    assert request.POST.dict() == {"language": "en"}
    assert body_length(request, 5) == 11
