"""botadmin/api_body.py: how /api/send and /api/callback read a body — its charset, its
Content-Encoding, its length once decompressed."""

import gzip
import json
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from botadmin import web_charsets
from messaging.models import Message
from tests.messaging.support import callback_body

TEXT = {"msgtype": "text", "text": {"content": "部署完成 ✓"}}


@pytest.fixture
def post(client, bot, group):
    """POST `raw` to /api/send (or `path`) as `content_type`, with more headers."""

    def post(raw: bytes, content_type="application/json", path="send", **headers):
        # Not client.post, which would re-encode the bytes into the declared charset.
        return client.generic(
            "POST",
            f"/api/{path}?secret={bot.secret}&conversation_id=wrGroup1",
            raw,
            content_type=content_type,
            headers=headers,
        )

    return post


def _stored(answer) -> dict:
    assert answer.status_code == 200, answer.content
    return Message.objects.get(msgid=answer.json()["msgid"]).body


def _answer(answer) -> tuple[int, int, str]:
    body = answer.json()
    return answer.status_code, body["errcode"], body["errmsg"]


@pytest.mark.parametrize(
    "charset, codec",
    [
        # .NET's StringContent(json, Encoding.Unicode, "application/json"): little-endian,
        # no byte order mark.
        ("utf-16", "utf-16-le"),
        ("utf-16", "utf-16"),  # with a byte order mark
        ("UTF-16LE", "utf-16-le"),
        ("utf-16be", "utf-16-be"),
        ("utf-16", "utf-16-be-bom"),  # its byte order mark says big-endian
        ("utf-32", "utf-32"),
        ("gb18030", "gb18030"),
        ('"utf-8"', "utf-8"),
        ("unicode-1-1-utf-8", "utf-8"),  # a WHATWG label of UTF-8
    ],
)
def test_a_body_in_the_charset_it_declares_is_read_in_it(post, charset, codec):
    text = json.dumps(TEXT, ensure_ascii=False)
    raw = b"\xfe\xff" + text.encode("utf-16-be") if codec == "utf-16-be-bom" else text.encode(codec)

    assert _stored(post(raw, f"application/json; charset={charset}")) == TEXT


@pytest.mark.parametrize("charset, codec", [("gb2312", "gbk"), ("GBK", "gbk"), ("big5", "big5")])
def test_a_chinese_body_in_its_declared_charset_is_read_in_it(post, charset, codec):
    text = {"msgtype": "text", "text": {"content": "部署完成"}}
    raw = json.dumps(text, ensure_ascii=False).encode(codec)

    assert _stored(post(raw, f"application/json; charset={charset}")) == text


@pytest.mark.parametrize(
    "charset, codec, content",
    [
        ("shift_jis", "cp932", "デプロイ完了 ①"),  # ① is windows-31j's, as the standard's
        ("sjis", "cp932", "デプロイ完了"),
        ("windows-31j", "cp932", "デプロイ完了"),  # Java's name; not one Python knows
        ("x-sjis", "cp932", "デプロイ完了"),
        ("euc-jp", "euc_jp", "デプロイ完了"),
        ("x-euc-jp", "euc_jp", "デプロイ完了"),
        ("euc-kr", "cp949", "배포 완료"),
        ("ks_c_5601-1987", "cp949", "배포 완료"),  # .NET's and Outlook's label of it
        ("windows-949", "cp949", "똠방각하"),  # a windows-949 syllable EUC-KR lacks
        ("koi8-r", "koi8_r", "Развёртывание"),
        ("windows-1251", "cp1251", "Развёртывание"),
        ("iso-8859-7", "iso8859_7", "Ανάπτυξη"),
        ("windows-874", "cp874", "ติดตั้งเสร็จ"),
        ("big5-hkscs", "big5hkscs", "部署完成"),
    ],
)
def test_a_japanese_korean_or_other_body_in_a_whatwg_charset_is_read_in_it(
    post, charset, codec, content
):
    """Answered 415 while only the Chinese, Unicode and latin1 labels were read."""
    text = {"msgtype": "text", "text": {"content": content}}
    raw = json.dumps(text, ensure_ascii=False).encode(codec)

    assert _stored(post(raw, f"application/json; charset={charset}")) == text


def test_every_label_of_the_encoding_standard_is_taken(post):
    """Each of the standard's labels of a text encoding names a codec that reads its
    JSON: an ASCII body, or one in UTF-16 or UTF-32 for those labels."""
    refused = {}
    for label, codec in web_charsets.CODECS.items():
        raw = json.dumps(TEXT).encode(codec if codec in web_charsets.WIDE else "ascii")
        answer = post(raw, f"application/json; charset={label.upper()}")
        if (
            answer.status_code != 200
            or Message.objects.get(msgid=answer.json()["msgid"]).body != TEXT
        ):
            refused[label] = answer.content
    assert len(web_charsets.CODECS) > 200
    assert refused == {}


@pytest.mark.parametrize("charset", ["iso-2022-jp", "csISO2022JP"])
def test_an_iso_2022_jp_body_is_read_as_declared_though_it_is_valid_utf8(post, charset):
    """Its 7-bit text (escape sequences around the kanji) is also valid UTF-8, which
    read it as control characters and letters: refused as no JSON."""
    text = {"msgtype": "text", "text": {"content": "デプロイ完了 ｶﾅ"}}
    raw = json.dumps(text, ensure_ascii=False).encode("iso2022_jp_ext")
    raw.decode("utf-8")

    assert _stored(post(raw, f"application/json; charset={charset}")) == text


@pytest.mark.parametrize("charset", ["latin1", "us-ascii", "iso-8859-1"])
def test_a_latin1_label_reads_a_body_that_is_not_utf8_as_windows_1252(post, charset):
    raw = json.dumps({"msgtype": "text", "text": {"content": "café €5"}}, ensure_ascii=False)

    body = _stored(post(raw.encode("cp1252"), f"application/json; charset={charset}"))

    assert body["text"]["content"] == "café €5"


@pytest.mark.parametrize("charset", ["latin1", "windows-1252"])
def test_the_bytes_python_leaves_out_of_windows_1252_read_as_the_standard_reads_them(post, charset):
    """0x81, 0x8D, 0x8F, 0x90 and 0x9D: C1 controls in the WHATWG windows-1252 (and in
    latin-1), undefined in Python's cp1252."""
    raw = b'{"msgtype": "text", "text": {"content": "caf\xe9 \x81\x8d\x8f\x90\x9d \x80"}}'

    body = _stored(post(raw, f"application/json; charset={charset}"))

    assert body["text"]["content"] == "café \x81\x8d\x8f\x90\x9d €"


def test_the_c1_bytes_python_leaves_out_of_another_windows_code_page_read_as_controls(post):
    """windows-1250's 0x81 (Python's cp1250 has no character for it) is U+0081 in the
    standard's index, as in windows-1252."""
    raw = b'{"msgtype": "text", "text": {"content": "\x8a\x81 \xe8"}}'

    body = _stored(post(raw, "application/json; charset=windows-1250"))

    assert body["text"]["content"] == "Š\x81 č"


@pytest.mark.parametrize("charset", ["iso-8859-1", "ISO-8859-1", "windows-1252", "gbk"])
def test_a_utf8_body_labelled_with_another_charset_is_read_as_utf8(post, charset):
    """As WeCom's webhook reads it: Java clients label their UTF-8 text ISO-8859-1."""
    raw = json.dumps(TEXT, ensure_ascii=False).encode()

    assert _stored(post(raw, f"application/json; charset={charset}")) == TEXT


def test_without_a_charset_a_body_is_utf8_a_byte_order_mark_allowed(post):
    raw = json.dumps(TEXT, ensure_ascii=False).encode()

    assert _stored(post(raw)) == TEXT
    assert _stored(post(b"\xef\xbb\xbf" + raw)) == TEXT


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-32"])
def test_without_a_charset_utf16_and_utf32_are_not_utf8(post, codec):
    """json.loads(bytes) guessed them, while docs/api.md said non-UTF-8 was refused."""
    raw = json.dumps(TEXT, ensure_ascii=False).encode(codec)

    assert _answer(post(raw)) == (
        400,
        7000001,
        "Warning: wrong json format. The body is not JSON: it is not UTF-8",
    )


def test_a_body_that_is_not_in_its_declared_charset_is_7000001(post):
    # An odd number of bytes: no UTF-16.
    assert _answer(post(b'{"a":1}', "application/json; charset=utf-16")) == (
        400,
        7000001,
        "Warning: wrong json format. The body is not JSON: it is not utf-16",
    )


@pytest.mark.parametrize(
    "charset",
    [
        *("rot13", "hex", "base64", "zlib", "bz2", "uu", "quopri", "no-such-charset"),
        # Python's own codecs, no web charset: they stored garbled text, or failed with 400.
        *("unicode_escape", "raw_unicode_escape", "charmap", "undefined", "punycode", "idna"),
    ],
)
@pytest.mark.parametrize("path", ["send", "callback"])
def test_a_charset_that_is_no_web_charset_is_415_on_send_and_callback(post, bot, path, charset):
    raw = json.dumps(TEXT if path == "send" else callback_body("text", bot)).encode()

    assert _answer(post(raw, f"application/json; charset={charset}", path)) == (
        415,
        7000003,
        f"Content-Type charset {charset} is not supported "
        "(it is no charset label of the Encoding Standard): send UTF-8",
    )


@pytest.mark.parametrize(
    "charset, why",
    [
        # The standard's "replacement" encoding: one error for the whole body.
        *(
            (label, "the Encoding Standard reads no text in it")
            for label in ("iso-2022-kr", "csiso2022kr", "hz-gb-2312", "iso-2022-cn")
        ),
        ("x-user-defined", "it holds binary data, not text"),
    ],
)
def test_a_whatwg_label_of_no_text_is_415_saying_why(post, charset, why):
    raw = json.dumps(TEXT).encode()

    assert _answer(post(raw, f"application/json; charset={charset}")) == (
        415,
        7000003,
        f"Content-Type charset {charset} is not supported ({why}): send UTF-8",
    )


@pytest.mark.parametrize(
    "coding, compress",
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("deflate", zlib.compress),
        ("identity", lambda raw: raw),
        ("gzip", lambda raw: gzip.compress(raw[:10]) + gzip.compress(raw[10:])),  # two members
    ],
)
def test_a_gzip_or_deflate_body_is_decompressed(post, coding, compress):
    raw = compress(json.dumps(TEXT, ensure_ascii=False).encode())

    assert _stored(post(raw, CONTENT_ENCODING=coding)) == TEXT


def test_a_compressed_callback_is_read_too(post, bot):
    raw = gzip.compress(json.dumps(callback_body("text", bot)).encode())

    assert _answer(post(raw, path="callback", CONTENT_ENCODING="gzip")) == (200, 0, "ok")


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(TEXT).encode(),  # labelled gzip, sent plain
        gzip.compress(json.dumps(TEXT).encode())[:-10],  # cut short
        gzip.compress(json.dumps(TEXT).encode()) + b"garbage",
    ],
    # gzip writes the time into its header: bytes as ids would differ between the
    # test processes, which must collect the same tests.
    ids=["plain", "cut-short", "trailing-garbage"],
)
def test_a_body_that_is_not_what_its_content_encoding_says_is_7000001(post, raw):
    assert _answer(post(raw, CONTENT_ENCODING="gzip")) == (
        400,
        7000001,
        "Warning: wrong json format. The body is not JSON: "
        "it is not gzip data, as its Content-Encoding says",
    )


@pytest.mark.parametrize(
    "coding, errmsg",
    [
        ("br", "Content-Encoding br is not supported: send it uncompressed, or compressed with gzip"),
        ("zstd", "Content-Encoding zstd is not supported: send it uncompressed, or compressed with gzip"),
        ("gzip, gzip", "Content-Encoding gzip, gzip is not supported: compress the body once, with gzip or deflate"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("path", ["send", "callback"])
def test_a_content_encoding_we_do_not_decompress_is_415_naming_it(post, path, coding, errmsg):
    """A plain body labelled br was taken as it was."""
    raw = json.dumps(TEXT).encode()

    assert _answer(post(raw, path=path, CONTENT_ENCODING=coding)) == (415, 7000003, errmsg)


def test_a_compressed_body_counts_against_the_limit_once_decompressed(post, settings):
    """A small body that inflates to gigabytes is refused after the limit + 1 bytes."""
    settings.BOTADMIN_SEND_MAX_BODY_BYTES = 20_000
    bomb = gzip.compress(b" " * 10_000_000)
    within = gzip.compress(json.dumps(TEXT).encode().ljust(20_000))
    assert len(bomb) < 20_000

    assert _answer(post(bomb, CONTENT_ENCODING="gzip")) == (
        413,
        7000002,
        "request body too large: at most 20000 bytes once decompressed",
    )
    assert _stored(post(within, CONTENT_ENCODING="gzip")) == TEXT


def test_an_upload_with_a_content_encoding_is_415(client, make_bot):
    """Django's multipart parser would read a compressed body as one without media."""
    robot = make_bot(name="alerts", connector="wecom_robot", agent_url="")

    answer = client.post(
        f"/api/upload_media?secret={robot.secret}&type=file",
        {"media": SimpleUploadedFile("report.pdf", b"%PDF-1.4 weekly report")},
        headers={"Content-Encoding": "gzip"},
    )

    assert _answer(answer) == (
        415,
        7000003,
        "Content-Encoding gzip is not supported: send the body uncompressed",
    )
