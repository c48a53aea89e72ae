"""An HTTP answer's body as text for people, logs and the database (`HttpResponse.text`)."""

from __future__ import annotations

import codecs
from html.parser import HTMLParser

from .web_charsets import WIDE, codec_for, replacing_errors

# An answer without a Content-Type is often a page too (a proxy's error page).
_HTML = {"", "text/html", "application/xhtml+xml"}


def decoded(content: bytes, content_type: str, *, complete: bool) -> str:
    """`content` decoded by the charset `content_type` declares, else, for an HTML page,
    by the one its first 1 KB declares in a `<meta>` (UTF-8 when none or an unknown
    one): undecodable bytes and NUL (which PostgreSQL refuses in text) become U+FFFD.
    An incomplete body loses the character its end split."""
    charset = _charset(content_type)
    if charset is None and content_type.split(";")[0].strip().lower() in _HTML:
        charset = _meta_charset(content)
    text = _decode(content, _codec(charset or "utf-8"), complete=complete)
    return text.replace("\x00", "\ufffd")


def _charset(content_type: str) -> str | None:
    """The charset a Content-Type declares, as written; None when it declares none."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return None


def _codec(charset: str) -> str:
    """The Python codec of a charset as browsers read its label (the WHATWG Encoding
    Standard's table, botadmin.web_charsets: `x-gbk` and `gb2312` are GB18030, `latin1`
    windows-1252, `ks_c_5601-1987` windows-949); UTF-8 for a label it does not know, or
    one of an encoding that decodes no text."""
    return codec_for(charset) or "utf-8"


class _MetaCharset(HTMLParser):
    """Finds `<meta charset="…">` or `<meta http-equiv="Content-Type" content="…;
    charset=…">`, where a browser looks when the header names no charset (nginx's and
    IIS's error pages in GBK declare theirs so); comments and scripts are skipped."""

    charset: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "meta" or self.charset is not None:
            return
        values = {name: value or "" for name, value in attrs}
        if "charset" in values:
            self.charset = values["charset"].strip() or None
        elif values.get("http-equiv", "").strip().lower() == "content-type":
            self.charset = _charset(values.get("content", ""))


def _meta_charset(content: bytes) -> str | None:
    """The charset a page's `<meta>` declares in its first 1 KB, or None."""
    finder = _MetaCharset()
    # Markup is ASCII in every charset a page can declare so; Latin-1 reads any byte.
    finder.feed(content[:1024].decode("latin-1"))
    # A page that says so in ASCII is not UTF-16 (browsers read UTF-8 then, WHATWG HTML).
    if finder.charset and _codec(finder.charset) in WIDE:
        return "utf-8"
    return finder.charset


def _decode(content: bytes, codec: str, *, complete: bool) -> str:
    """`content` decoded; an incomplete body keeps back the bytes of a character its end
    split (an incremental decoder waits for the rest of it)."""
    decoder = codecs.getincrementaldecoder(codec)(errors=replacing_errors(codec))
    return decoder.decode(content, final=complete)
