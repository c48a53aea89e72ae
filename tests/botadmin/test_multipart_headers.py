"""botadmin/multipart_headers.py: a multipart part's file name in GBK (or another charset
than UTF-8) reaches Django's parser readable, under botadmin.wsgi's request class."""

from __future__ import annotations

import io

import pytest
import requests
from django.http.multipartparser import MultiPartParserError

from botadmin.request_body import Request
from devtools.processes import database_url
from messaging.models import UploadedMedia
from tests.messaging.conftest import running_gunicorn

REPORT = b"%PDF-1.4 weekly report"


def _part(name: bytes, filename: bytes, content: bytes) -> bytes:
    return (
        b'--b\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n%s\r\n" % (name, filename, content)
    )


def _form(*parts: bytes) -> bytes:
    field = b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nweekly\r\n'
    return field + b"".join(parts) + b"--b--\r\n"


class _Trickle(io.BytesIO):
    """A body arriving a few bytes at a time, as a slow client's does."""

    def read(self, size=-1):
        return super().read(7 if size is None or size < 0 else min(size, 7))


def _request(body: bytes, charset: str = "", trickle: bool = False) -> Request:
    """The request botadmin.wsgi builds, for a body as a client sends it."""
    content_type = "multipart/form-data; boundary=b" + (f"; charset={charset}" if charset else "")
    return Request(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/upload_media",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "wsgi.url_scheme": "http",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": (_Trickle if trickle else io.BytesIO)(body),
        }
    )


@pytest.mark.parametrize(
    "name, codec, charset",
    [
        ("报告.pdf", "gbk", ""),  # Chinese Windows tools, older curl builds: no charset said
        ("2024年第三季度报告.pdf", "gb18030", ""),
        ("报告.pdf", "gbk", "gbk"),  # Apache HttpClient with its charset set to GBK
        ("報告.pdf", "big5", "big5"),
        ("ソフト表.xlsx", "cp932", "shift_jis"),  # ソ and 表 end in 0x5C, a backslash in ASCII
        ("보고서.pdf", "cp949", "euc-kr"),
        ("報告書.pdf", "iso2022_jp", "iso-2022-jp"),  # 7-bit: valid UTF-8, read as declared
        ("报告.pdf", "utf-8", "gbk"),  # UTF-8 first: Django read it as GBK, mojibake
        ("报告.pdf", "utf-8", ""),  # as it always was
    ],
)
def test_a_file_name_in_gbk_or_the_declared_charset_keeps_its_name(name, codec, charset):
    request = _request(_form(_part(b"media", name.encode(codec), REPORT)), charset)

    media = request.FILES["media"]

    assert (media.name, media.read()) == (name, REPORT)
    assert request.POST.dict() == {"note": "weekly"}


def _ext_part(disposition: bytes) -> bytes:
    return (
        b'--b\r\nContent-Disposition: form-data; name="media"; %s\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n%s\r\n" % (disposition, REPORT)
    )


@pytest.mark.parametrize(
    "disposition, charset",
    [
        # RFC 2231, as curl and browsers write a UTF-8 name: Django decoded it, then read
        # its UTF-8 again in the declared charset (mojibake)
        (b"filename*=UTF-8''%E5%91%A8%E6%8A%A5.pdf", "gbk"),
        (b"filename*=utf-8'zh'%E5%91%A8%E6%8A%A5.pdf", "big5"),
        # beside a plain name, in GBK or ASCII: filename* wins (RFC 6266 section 4.3)
        (b"filename=\"\xd6\xdc\xb1\xa8.pdf\"; filename*=UTF-8''%E5%91%A8%E6%8A%A5.pdf", "gbk"),
        (b"filename=\"report.pdf\"; filename*=UTF-8''%E5%91%A8%E6%8A%A5.pdf", "shift_jis"),
        # its charset label read as browsers read it: Python knows no x-gbk
        (b"filename*=x-gbk''%D6%DC%B1%A8.pdf", ""),
        (b"filename*=x-gbk''%D6%DC%B1%A8.pdf", "gbk"),
    ],
)
def test_an_rfc_2231_file_name_keeps_its_name_whatever_the_declared_charset(disposition, charset):
    request = _request(_form(_ext_part(disposition)), charset)

    media = request.FILES["media"]

    assert (media.name, media.read()) == ("周报.pdf", REPORT)


@pytest.mark.parametrize("trickle", [False, True])
def test_a_large_upload_passes_byte_for_byte_around_its_decoded_name(trickle):
    """The body is read in pieces: a delimiter or a header block cut between two reads,
    and file bytes that look like neither UTF-8 nor a header, arrive unchanged."""
    content = (
        bytes(range(256)) * 2 + b"\r\n--c\r\nContent-Disposition: x\r\n\r\n" + "报告".encode("gbk")
    ) * 800
    first = _part(b"first", "周报.bin".encode("gbk"), content)
    body = _form(first, _part(b"media", "报告.pdf".encode("gbk"), content))
    assert len(body) > 4 * 64 * 1024

    request = _request(body, trickle=trickle)

    assert request.FILES["first"].name == "周报.bin"
    assert request.FILES["first"].read() == content
    assert request.FILES["media"].name == "报告.pdf"
    assert request.FILES["media"].read() == content


@pytest.mark.parametrize("charset", ["", "gbk"])
def test_a_file_name_in_no_charset_we_read_is_refused_not_guessed(charset):
    request = _request(_form(_part(b"media", b"\xff\xfe\x80.pdf", REPORT)), charset)

    with pytest.raises(MultiPartParserError, match="send its file name in UTF-8"):
        request.FILES  # noqa: B018


def test_upload_media_keeps_a_gbk_file_name_and_refuses_an_unreadable_one(
    transactional_db, make_bot, tmp_path
):
    robot = make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")
    url = f"/api/upload_media?secret={robot.secret}&type=file"
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    with running_gunicorn(database_url(), tmp_path / "server.log") as base_url:
        # What `curl -F media=@报告.pdf` sends from a GBK console.
        gbk = requests.post(
            base_url + url,
            data=_form(_part(b"media", "报告.pdf".encode("gbk"), REPORT)),
            headers=headers,
            timeout=30,
        )
        unreadable = requests.post(
            base_url + url,
            data=_form(_part(b"media", b"\xff\xfe.pdf", REPORT)),
            headers=headers,
            timeout=30,
        )

    assert gbk.status_code == 200, gbk.text
    assert UploadedMedia.objects.get(media_id=gbk.json()["media_id"]).name == "报告.pdf"
    assert (unreadable.status_code, unreadable.json()) == (
        400,
        {
            "errcode": 40035,
            "errmsg": "invalid parameter: multipart body: a part's header is neither UTF-8 "
            "nor GB18030: send its file name in UTF-8",
        },
    )
    assert UploadedMedia.objects.count() == 1


def test_upload_media_keeps_a_utf_8_rfc_2231_name_sent_with_a_gbk_charset(
    transactional_db, make_bot, tmp_path
):
    robot = make_bot(name="alerts", connector="wecom_robot", agent_url="", agent_token="")
    with running_gunicorn(database_url(), tmp_path / "server.log") as base_url:
        answer = requests.post(
            base_url + f"/api/upload_media?secret={robot.secret}&type=file",
            data=_form(_ext_part(b"filename*=UTF-8''%E5%91%A8%E6%8A%A5.pdf")),
            headers={"Content-Type": "multipart/form-data; boundary=b; charset=gbk"},
            timeout=30,
        )

    assert answer.status_code == 200, answer.text
    assert UploadedMedia.objects.get(media_id=answer.json()["media_id"]).name == "周报.pdf"
