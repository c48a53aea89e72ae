"""An HTTP answer's body as text for people, logs and the database (`HttpResponse.text`)."""

from __future__ import annotations

import codecs


def decoded(content: bytes, content_type: str, *, complete: bool) -> str:
    """`content` decoded by the charset `content_type` declares (UTF-8 when none or an
    unknown one): undecodable bytes and NUL (which PostgreSQL refuses in text) become
    U+FFFD. An incomplete body loses the character its end split."""
    codec = _charset(content_type)
    try:
        text = _decode(content, codec, complete=complete)
    except UnicodeError:  # a codec refusing `errors="replace"` (idna, undefined)
        text = _decode(content, "utf-8", complete=complete)
    return text.replace("\x00", "\ufffd")


# Labels whose pages are written in a superset in practice (as browsers read them, WHATWG
# Encoding): a page declared gb2312 holds GBK characters, and GB18030 contains GBK.
_SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030"}


def _charset(content_type: str) -> str:
    """The Python codec of the charset a Content-Type declares; UTF-8 when it declares
    none, or one that is not a text encoding Python knows."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            try:
                info = codecs.lookup(value.strip().strip("\"'"))
            except LookupError:
                return "utf-8"
            # Python also names bytes-to-bytes (zlib, base64) and str-to-str (rot13) codecs.
            if not getattr(info, "_is_text_encoding", True):
                return "utf-8"
            return _SUPERSET.get(info.name, info.name)
    return "utf-8"


def _decode(content: bytes, codec: str, *, complete: bool) -> str:
    """`content` decoded; an incomplete body keeps back the bytes of a character its end
    split (an incremental decoder waits for the rest of it)."""
    return codecs.getincrementaldecoder(codec)(errors="replace").decode(content, final=complete)
