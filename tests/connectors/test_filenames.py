"""File names from a download's Content-Disposition (RFC 6266, RFC 5987), and the names
botadmin gives what it uploads to WeCom."""

import pytest

from connectors.filenames import attachment_name, safe_file_name, upload_name, url_file_name


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("attachment; filename*=UTF-8''%E5%91%A8%E6%8A%A5.pdf", "周报.pdf"),
        ("attachment; filename*=utf-8'zh-CN'%E5%91%A8%E6%8A%A5.pdf", "周报.pdf"),
        ("attachment; filename*=iso-8859-1''caf%E9.txt", "café.txt"),
        # its charset label read as browsers read it (WHATWG), not by Python's codec names
        ("attachment; filename*=x-gbk''%D6%DC%B1%A8.pdf", "周报.pdf"),
        ("attachment; filename*=unicode-1-1-utf-8''%E5%91%A8.pdf", "周.pdf"),
        ("attachment; filename*=ks_c_5601-1987''%8C%63.txt", "똠.txt"),  # windows-949 only
        ("attachment; filename*=iso-8859-1''%80.txt", "€.txt"),  # windows-1252
        # a Python codec that is no charset label: not decoded, the plain name stays
        ("attachment; filename*=unicode_escape''%5Cu5468.pdf; filename=\"plain.pdf\"", "plain.pdf"),
        # filename* wins over filename, wherever it stands (RFC 6266 section 4.3)
        ("attachment; filename*=UTF-8''%E5%91%A8.pdf; filename=\"plain.pdf\"", "周.pdf"),
        ("attachment; filename=\"plain.pdf\"; filename*=UTF-8''%E5%91%A8.pdf", "周.pdf"),
        # a filename* that cannot be decoded leaves the plain one
        ("attachment; filename*=UTF-8''%FF.pdf; filename=\"fallback.pdf\"", "fallback.pdf"),
        ('attachment; filename="report 1.pdf"', "report 1.pdf"),
        ("attachment; filename=report.pdf", "report.pdf"),
        ('attachment; filename="a \\"quoted\\" name.txt"', 'a "quoted" name.txt'),
        ('attachment; FILENAME="upper.txt"', "upper.txt"),
        ('attachment; filename="%E5%91%A8.pdf"', "周.pdf"),
        ('attachment; filename="100%.txt"', "100%.txt"),
        ('attachment; filename="%FF.txt"', "%FF.txt"),
        ('attachment; filename="周.pdf"'.encode().decode("latin-1"), "周.pdf"),
        ("inline", ""),
        ("", ""),
        ('attachment; filename=".."', ""),
    ],
)
def test_the_name_a_header_gives(header, name):
    assert attachment_name(header) == name


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\lisi\\报价.xlsx", "报价.xlsx"),
        ("a\r\nb\tc\x00d\x7f\x85.txt", "abcd.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # no right-to-left override
        ("  spaced.txt  ", "spaced.txt"),
        ("folder/", ""),
    ],
)
def test_a_name_keeps_neither_folders_nor_control_characters(given, kept):
    assert safe_file_name(given) == kept


def test_a_long_name_is_cut_to_255_bytes_on_a_character_boundary_keeping_its_extension():
    name = safe_file_name("报" * 100 + ".pdf")
    assert len(name.encode()) <= 255 and name == "报" * 83 + ".pdf"
    assert safe_file_name("x" * 300) == "x" * 255
    assert safe_file_name("x" * 300 + "." + "y" * 20) == ("x" * 300 + ".")[:255]


# A PDF's URL path → the name recipients see, whichever connector uploads it.
NAMES_FROM_URLS = pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/files/report%20final.pdf?sig=a%20b", "report final.pdf"),
        ("/files/" + "%E5%91%A8" * 100 + ".pdf", "周" * 83 + ".pdf"),  # cut to 255 bytes
        ("/files/2024%2F06.pdf", "2024_06.pdf"),  # an encoded / is no folder
        ("/download?id=7", "download.pdf"),  # no extension: the bytes give it
    ],
    ids=["decoded", "long", "encoded-slash", "no-extension"],
)

JPEG = b"\xff\xd8\xff\xe0" + bytes(20)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(20)
GIF = b"GIF89a" + bytes(20)
AMR = b"#!AMR\n" + bytes(20)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(20)
PDF = b"%PDF-1.4 report"
DOCX = b"PK\x03\x04" + bytes(20)  # or an .xlsx, an .apk: any zip
XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(20)  # or a .doc, a .ppt


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://files.example/r/report%20final.pdf?sig=a%20b#top", "report final.pdf"),
        ("https://files.example/%E5%91%A8%E6%8A%A5.pdf", "周报.pdf"),
        ("https://files.example/2024%2F06%5Creport.pdf", "2024_06_report.pdf"),
        ("https://files.example/100%.txt", "100%.txt"),  # no escape: as written
        ("https://files.example/%FF.txt", "%FF.txt"),  # not UTF-8: as written
        ("https://files.example/a%0D%0Ab%E2%80%AE.txt", "ab.txt"),
        ("https://files.example/dir/", ""),
        ("https://files.example", ""),
    ],
)
def test_a_url_names_its_file_by_its_last_path_part_decoded(url, name):
    assert url_file_name(url) == name


@pytest.mark.parametrize(
    ("content", "kind", "name"),
    [
        (JPEG, "image", "image.jpg"),
        (PNG, "image", "image.png"),
        (GIF, "image", "image.gif"),
        (AMR, "voice", "voice.amr"),
        (MP4, "video", "video.mp4"),
        (PDF, "file", "file.pdf"),
        (b"plain words", "file", "file"),  # nothing recognised: no extension made up
        (DOCX, "file", "file"),  # a zip could be a .docx: no wrong guess
        (XLS, "file", "file"),
    ],
)
def test_unnamed_media_are_named_after_their_kind_with_the_extension_their_bytes_show(
    content, kind, name
):
    assert upload_name(content, kind) == name


def test_a_given_name_wins_and_gets_an_extension_only_when_it_has_none():
    assert upload_name(PDF, "file", "季度报告.pdf") == "季度报告.pdf"
    assert upload_name(PDF, "file", "notes.txt") == "notes.txt"  # the sender's word for it
    assert upload_name(PDF, "file", "季度报告") == "季度报告.pdf"
    assert upload_name(PDF, "file", "季度报告.") == "季度报告.pdf"
    assert upload_name(PDF, "file", "v2 final") == "v2 final.pdf"
    assert upload_name(PDF, "file", "", "https://x.example/download?id=7") == "download.pdf"
    assert upload_name(PDF, "file", "given.pdf", "https://x.example/other.pdf") == "given.pdf"
    assert upload_name(PDF, "file", "", "https://x.example/r/report%20final.pdf") == (
        "report final.pdf"
    )
    assert upload_name(PDF, "file", "", "https://x.example/") == "file.pdf"


def test_a_long_upload_name_is_cut_to_255_bytes_keeping_its_extension():
    from_url = upload_name(PDF, "file", url="https://x.example/" + "%E6%8A%A5" * 100 + ".pdf")
    assert from_url == "报" * 83 + ".pdf"
    given = upload_name(PDF, "file", "x" * 300)  # no extension: the one the bytes show
    assert given == "x" * 251 + ".pdf"
    assert upload_name(PDF, "file", "a/b\\" + "y" * 300 + ".PDF") == "y" * 251 + ".PDF"
