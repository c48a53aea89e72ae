"""An API request's body as text: read within a limit, decompressed, decoded.

`/api/send` and `/api/callback` read their JSON through `body_text`, so a body is
taken alike by both (docs/api.md says the same, after chunked bodies):

* **Length.** At most `limit` bytes as sent (a declared Content-Length over it is
  refused before anything is read, a chunked body after `limit` + 1 bytes) and at
  most `limit` bytes once decompressed: 7000002, HTTP 413.
* **Content-Encoding.** `gzip` (`x-gzip`) and `deflate` are decompressed, some HTTP
  clients compress what they post; decompression stops one byte past the limit, so
  a small body that inflates to gigabytes (a "zip bomb") costs no more than a body
  of the limit. Another coding, or more than one, is 7000003 (HTTP 415) naming it:
  it was once read as if it were plain JSON ("not UTF-8" for gzip, and a plain body
  labelled `br` was taken).
* **Charset.** Without a `charset` the body is UTF-8 (RFC 8259), a byte order mark
  allowed; `json.loads` used to guess UTF-16 and UTF-32 too, which the docs said
  were refused. A declared UTF-16 or UTF-32 is honoured (.NET's
  `StringContent(json, Encoding.Unicode, "application/json")` sends UTF-16 and says
  so); with another declared charset the body is still read as UTF-8 when it is
  UTF-8 (as WeCom reads it: Java clients label UTF-8 ISO-8859-1), else in that
  charset (a GBK body). The charsets are the WHATWG labels of `web_charsets`; any other
  (`rot13`, `unicode_escape`, an unknown name) is 7000003, HTTP 415. A body that is
  not in its charset is 7000001, `…: it is not UTF-8`.
"""

import codecs
import zlib

from django.http import HttpRequest

from .api import not_json, refuse_body_over
from .errors import Err, errmsg_value
from .web_charsets import SEVEN_BIT, WIDE, codec_for, decode, refusal

_UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}
# The content codings we decompress, as zlib's wbits: gzip's header, zlib's (RFC 9110 8.4.1).
_CODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def body_text(request: HttpRequest, limit: int) -> str:
    """The body of `request` as text, or the ApiError for it (see the module)."""
    coding = _content_coding(request)
    charset = _charset(request)
    refuse_body_over(request, limit)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(limit)
    if coding:
        raw = _decompressed(raw, coding, limit)
    text = _decoded(raw, charset)
    # A byte order mark is no part of the JSON (the utf-32 codec drops its own itself).
    return text.removeprefix("\ufeff")


def _decoded(raw: bytes, charset: str) -> str:
    """`raw` as text: UTF-16, UTF-32 and ISO-2022-JP as declared; anything else UTF-8 first."""
    # A UTF-8 body labelled with another charset (Java clients write ISO-8859-1 by
    # default) reaches WeCom's webhook as UTF-8: it does here too. The declared charset
    # reads only what is no UTF-8 (a GBK body says so). UTF-16 and UTF-32 go by their
    # label, since their ASCII is valid UTF-8 (with NULs) and would be misread, and so
    # does ISO-2022-JP, whose 7-bit text is valid UTF-8 with escape sequences in it.
    codec = codec_for(charset) if charset else "utf-8"
    if codec.startswith("utf-16") and raw[:2] in _UTF16_BOMS:
        codec = _UTF16_BOMS[raw[:2]]  # a byte order mark says which (the standard's sniffing)
    by_label = codec in WIDE or codec in SEVEN_BIT
    for encoding in [codec] if by_label else dict.fromkeys(["utf-8", codec]):
        try:
            return decode(raw, encoding)
        except UnicodeError:
            continue
    raise not_json(f"it is not {errmsg_value(charset, 40) if charset else 'UTF-8'}")


def refuse_content_coding(request: HttpRequest) -> None:
    """7000003 for a body with any Content-Encoding, where an endpoint takes none."""
    if coding := _codings(request):
        raise _unsupported_coding(coding[0], "send the body uncompressed")


def _codings(request: HttpRequest) -> list[str]:
    header = request.headers.get("Content-Encoding", "")
    codings = (coding.strip().lower() for coding in header.split(","))
    return [coding for coding in codings if coding and coding != "identity"]


def _content_coding(request: HttpRequest) -> str:
    codings = _codings(request)
    if not codings:
        return ""
    if len(codings) > 1:
        raise Err.UNSUPPORTED_MEDIA_TYPE.error(
            f"Content-Encoding {errmsg_value(', '.join(codings), 60)} is not supported: "
            "compress the body once, with gzip or deflate"
        )
    if codings[0] not in _CODINGS:
        raise _unsupported_coding(codings[0], "send it uncompressed, or compressed with gzip")
    return codings[0]


def _unsupported_coding(coding: str, advice: str):
    return Err.UNSUPPORTED_MEDIA_TYPE.error(
        f"Content-Encoding {errmsg_value(coding, 40)} is not supported: {advice}"
    )


def _charset(request: HttpRequest) -> str:
    """The declared charset, "" for none; 7000003 for one we do not read (web_charsets)."""
    charset = (getattr(request, "content_params", None) or {}).get("charset", "").strip()
    if not charset:
        return ""
    if codec_for(charset) is None:
        raise Err.UNSUPPORTED_MEDIA_TYPE.error(
            f"Content-Type charset {errmsg_value(charset, 40)} is not supported "
            f"({refusal(charset)}): send UTF-8"
        )
    return charset


def _decompressed(raw: bytes, coding: str, limit: int) -> bytes:
    """`raw` decompressed, at most `limit` bytes of it (413 beyond), every gzip member."""
    out = bytearray()
    rest = raw
    while True:
        decompressor = zlib.decompressobj(_CODINGS[coding])
        try:
            out += decompressor.decompress(rest, limit + 1 - len(out))
        except zlib.error:
            raise _not_coded(coding) from None
        if len(out) > limit:
            raise _too_large(limit, " once decompressed")
        if not decompressor.eof:  # cut short
            raise _not_coded(coding)
        rest = decompressor.unused_data
        if not rest:
            return bytes(out)
        if coding == "deflate":  # one stream; gzip may have several members
            raise _not_coded(coding)


def _not_coded(coding: str):
    return not_json(f"it is not {coding} data, as its Content-Encoding says")


def _too_large(limit: int, how: str = ""):
    return Err.BODY_TOO_LARGE.error(f"request body too large: at most {limit} bytes{how}")
