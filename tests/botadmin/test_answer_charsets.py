"""An answer's declared charset is read as browsers read its label (the WHATWG Encoding
Standard, botadmin.web_charsets), not by Python's codec names: `HttpResponse.text`."""

import pytest

from botadmin import http
from devtools.receiver import Receiver

PAGE = "<h1>服务暂时不可用（朱镕）</h1>"


@pytest.fixture
def receiver():
    with Receiver() as receiver:
        yield receiver


@pytest.mark.parametrize(
    ("label", "text", "encoding"),
    [
        ("x-gbk", PAGE, "gbk"),  # Python knows no x-gbk: it was read as UTF-8
        ("ks_c_5601-1987", "<h1>서비스 점검 중 똠방각하</h1>", "cp949"),  # 똠: windows-949 only
        ("iso-8859-1", "<p>5 € – “busy”</p>", "cp1252"),  # browsers: windows-1252
        ("ascii", "<p>Preis: 5 €</p>", "cp1252"),
    ],
)
def test_a_charset_label_is_read_as_browsers_read_it(receiver, label, text, encoding):
    receiver.respond(503, text.encode(encoding), {"Content-Type": f"text/html; charset={label}"})

    assert http.request("GET", receiver.url()).text == text


def test_a_meta_charset_label_is_read_as_browsers_read_it(receiver):
    page = f'<meta charset="x-gbk">{PAGE}'
    receiver.respond(502, page.encode("gbk"), {"Content-Type": "text/html"})

    assert http.request("GET", receiver.url()).text == page


def test_a_python_codec_that_is_no_charset_label_is_read_as_utf_8(receiver):
    body = "坏了\\x41".encode() + b"\xff"
    receiver.respond(500, body, {"Content-Type": "text/plain; charset=unicode_escape"})

    assert http.request("GET", receiver.url()).text == "坏了\\x41\ufffd"


def test_a_windows_code_page_s_undefined_byte_is_its_c1_control_as_browsers_read_it(receiver):
    receiver.respond(500, b"busy \x81 \x9d", {"Content-Type": "text/plain; charset=windows-1252"})

    assert http.request("GET", receiver.url()).text == "busy \x81 \x9d"
