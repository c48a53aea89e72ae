"""File names from a download's Content-Disposition (RFC 6266, RFC 5987)."""

import pytest

from connectors.filenames import attachment_name, safe_file_name


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("attachment; filename*=UTF-8''%E5%91%A8%E6%8A%A5.pdf", "周报.pdf"),
        ("attachment; filename*=utf-8'zh-CN'%E5%91%A8%E6%8A%A5.pdf", "周报.pdf"),
        ("attachment; filename*=iso-8859-1''caf%E9.txt", "café.txt"),
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
