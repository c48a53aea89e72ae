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
        reported = _post_chunked(
            base_url, f"/api/callback?secret={bot.secret}", b" " * 300_000, "application/json"
        )
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


def _request_with_query(content_type: str, query: str, body: bytes = b"") -> Request:
    return _request(
        body,
        content_type,
        PATH_INFO="/api/users",
        QUERY_STRING=query,
        CONTENT_LENGTH=str(len(body)),
    )


@pytest.mark.parametrize(
    "charset",
    # Python's bytes-to-bytes codecs (Django raised LookupError building the request), codecs
    # that fail on a query string (UnicodeError), and character sets in which ASCII is not
    # ASCII (.NET's Encoding.Unicode: an ASCII secret read as other characters, 93000).
    ["rot13", "hex", "base64", "zlib", "bz2", "uu", "quopri", "punycode", "undefined"]
    + ["utf-16", "utf-16le", "utf-16-be", "utf-32", "cp500", "no-such-charset", "utf-8"],
)
def test_the_query_string_is_utf8_whatever_charset_the_body_declares(charset):
    request = _request_with_query(
        f"application/json; charset={charset}", "secret=s3cr3t&conversation_id=%E7%BE%A4"
    )

    assert request.GET.dict() == {"secret": "s3cr3t", "conversation_id": "群"}
    # What was declared stays for the API, which reads the body's charset itself.
    assert request.content_params == {"charset": charset}


@pytest.mark.parametrize("charset", ["rot13", "utf-16", "cp500", "undefined", "no-such-charset"])
def test_a_form_ignores_a_charset_in_which_ascii_is_not_ascii(charset):
    request = _request_with_query(
        f"multipart/form-data; boundary=b; charset={charset}",
        "next=/",
        b'--b\r\nContent-Disposition: form-data; name="language"\r\n\r\nen\r\n--b--\r\n',
    )

    assert request.encoding is None
    assert request.POST.dict() == {"language": "en"}


def test_a_form_keeps_a_charset_that_reads_ascii_as_ascii():
    body = '--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n群聊\r\n--b--\r\n'
    request = _request_with_query(
        "multipart/form-data; boundary=b; charset=gb18030", "", body.encode("gb18030")
    )

    assert request.encoding == "gb18030"
    assert request.POST.dict() == {"name": "群聊"}


@pytest.mark.parametrize(
    "charset, codec, text",
    [
        ("windows-31j", "cp932", "デプロイ ①"),  # labels of the standard Python does not know
        ("x-sjis", "cp932", "デプロイ"),
        ("x-euc-jp", "euc_jp", "デプロイ"),
        ("ks_c_5601-1987", "cp949", "배포"),
        ("iso-2022-jp", "iso2022_jp", "デプロイ"),  # stateful, but starts and ends in ASCII
        ("latin1", "cp1252", "5 €"),  # windows-1252, as browsers read it; not Latin-1's 0x80
    ],
)
def test_a_multipart_form_in_a_whatwg_charset_is_read_in_its_encoding(charset, codec, text):
    """Django refuses an urlencoded form with a charset other than UTF-8 itself."""
    body = f'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n{text}\r\n--b--\r\n'
    request = _request_with_query(
        f"multipart/form-data; boundary=b; charset={charset}", "", body.encode(codec)
    )

    assert request.POST.dict() == {"name": text}


@pytest.mark.parametrize("charset", ["utf8", "UTF8", "unicode-1-1-utf-8"])
def test_an_urlencoded_form_labelled_utf8_by_another_label_is_read(charset):
    """Django takes an urlencoded form only in "utf-8" and refused these labels of it (400)."""
    request = _request_with_query(
        f"application/x-www-form-urlencoded; charset={charset}",
        "",
        b"name=%E7%BE%A4&next=/",
    )

    assert request.POST.dict() == {"name": "群", "next": "/"}


def test_malformed_content_type_parameters_are_none():
    """An RFC 2231 charset naming no codec: Django's parser raises ValueError."""
    request = _request_with_query("application/json; charset*=xx''utf-8", "secret=s")

    assert (request.content_type, request.content_params) == ("application/json", {})
    assert request.GET.dict() == {"secret": "s"}


def test_under_gunicorn_a_bogus_or_non_ascii_charset_neither_breaks_the_request_nor_the_secret(
    transactional_db, bot, group, tmp_path
):
    """`charset=rot13` (any bytes-to-bytes codec) on a URL with a query string was
    gunicorn's HTML 500, raised while Django built the request; `charset=utf-16` turned
    the query's ASCII secret into other characters (93000)."""
    charsets = ["rot13", "hex", "base64", "zlib", "bz2", "uu", "quopri", "punycode"]
    charsets += ["utf-16", "utf-16le", "utf-16be", "cp500", "no-such-charset"]
    with running_gunicorn(database_url(), tmp_path / "server.log") as base_url:
        lists = {
            charset: requests.get(
                base_url + "/api/groups",
                params={"secret": bot.secret},
                headers={"Content-Type": f"application/json; charset={charset}"},
                timeout=30,
            )
            for charset in charsets
        }
        token = "t" * 32
        chose = requests.post(
            base_url + "/i18n/setlang/?from=console",
            data={"csrfmiddlewaretoken": token, "language": "en", "next": "/healthz"},
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=rot13"},
            cookies={"csrftoken": token},
            allow_redirects=False,
            timeout=30,
        )
        # .NET's StringContent(json, Encoding.Unicode, "application/json").
        dotnet = requests.post(
            base_url + "/api/send",
            params={"secret": bot.secret, "conversation_id": "wrGroup1"},
            data=json.dumps(TEXT).encode("utf-16-le"),
            headers={"Content-Type": "application/json; charset=utf-16"},
            timeout=30,
        )
        malformed = requests.get(
            base_url + "/api/groups",
            params={"secret": bot.secret},
            headers={"Content-Type": "application/json; charset*=xx''utf-8"},
            timeout=30,
        )

    for charset, answer in lists.items():
        assert answer.status_code == 200, (charset, answer.text[:200])
        assert answer.json()["errcode"] == 0, charset
    # A console page: the bogus charset is ignored, the form read.
    assert (chose.status_code, chose.headers.get("Location")) == (302, "/healthz"), chose.text
    assert (dotnet.status_code, dotnet.json()["errcode"]) == (200, 0), dotnet.text
    assert Message.objects.get(msgid=dotnet.json()["msgid"]).body == TEXT
    assert (malformed.status_code, malformed.json()["errcode"]) == (200, 0)
