"""Multipart part headers as Django's parser can read them: file names in GBK and the like.

Django's MultiPartParser reads each header line of a part as UTF-8 and skips a line
that is not (`django.http.multipartparser.parse_boundary_stream`: `line.decode()`, whose
UnicodeDecodeError is a ValueError, an "invalid header"): a part whose
Content-Disposition carries a GBK file name (Chinese Windows tools, older curl builds,
Apache HttpClient set to GBK) lost its name and field, and /api/upload_media answered
41006. With a charset declared on the request it also decodes again, in that charset,
the name it read as UTF-8 (`force_str(file_name, encoding)`): a UTF-8 name became
mojibake.

`PartHeadersDecoded` wraps the body the parser reads and rewrites only the header lines
Django would misread; every other byte passes as it is. Such a line is read as UTF-8,
else in the request's declared charset (`web_charsets.form_codec`), else as GB18030 (the
Chinese fallback, a superset of GBK); a declared ISO-2022-JP, whose 7-bit text is UTF-8
too, comes first. It is written back in UTF-8 when the request declares no charset, else
in ASCII with every other character as an HTML character reference (`&#25253;`), which
Django decodes in a file name whatever the charset (`sanitize_file_name` unescapes them,
as some browsers send them); a non-ASCII field *name* stays so written. A file name
given as RFC 2231's `filename*=UTF-8''%E6%8A%A5…` is ASCII, but Django decodes it, encodes
it in UTF-8 and decodes that again in the declared charset (mojibake again): it is
rewritten so too (`_ext_filename`), its charset label read by the WHATWG table as
elsewhere. Django still does
all the parsing: quoting, RFC 2231 `filename*=`, the limits (a part's headers within
`MAX_TOTAL_HEADER_SIZE`, which character references reach at about 110 characters),
the sanitising. A header line that is none of these is refused (MultiPartParserError:
40035 on /api/upload_media, 400 elsewhere) rather than guessed at: the name is what
recipients see.
"""

import re
from urllib.parse import quote, unquote_to_bytes

from django.http.multipartparser import MAX_TOTAL_HEADER_SIZE, MultiPartParserError

from .web_charsets import SEVEN_BIT, codec_for, decode

_READ_SIZE = 64 * 1024
_FALLBACK = "gb18030"
_HEADERS_END = b"\r\n\r\n"
# RFC 2231's `filename*=charset'language'%XX…` (one piece; RFC 7578 section 4.2).
_EXT_FILENAME = re.compile(
    r"(?i)(?P<name>filename\*)\s*=\s*(?P<charset>[^'\s;]*)'[^'\s;]*'(?P<value>[^\s;\"]*)"
)


class PartHeadersDecoded:
    """A multipart body (a file-like `stream` with `read`), its parts' header lines
    readable by Django's parser; `codec` is the request's `encoding` (None for UTF-8)."""

    def __init__(self, stream, boundary: bytes, codec: str | None):
        self._stream = stream
        self._delimiter = b"--" + boundary
        self._codec = None if codec in (None, "utf-8", "utf8") else codec
        self._seven_bit = self._codec in SEVEN_BIT
        self._pending = b""  # read, not yet examined
        self._ready = bytearray()  # examined, not yet given out
        self._ended = False

    def read(self, size: int | None = -1) -> bytes:
        """At most `size` bytes (all for -1), fewer when that is what has arrived (as a
        socket reads; Django's ChunkIter takes them), b"" only at the end."""
        whole = size is None or size < 0
        while not self._ended and (whole or not self._ready):
            chunk = self._stream.read(_READ_SIZE)
            self._ended = not chunk
            self._pending += chunk
            self._examine()
        if whole or size >= len(self._ready):
            given = bytes(self._ready)
            self._ready.clear()
            return given
        given = bytes(self._ready[:size])
        del self._ready[:size]
        return given

    def _examine(self) -> None:
        """Move what is known to `_ready`, each complete header block rewritten; keep
        what may still be the start of a delimiter or an incomplete header block."""
        pending, given, search = self._pending, 0, 0
        while True:
            found = pending.find(self._delimiter, search)
            if found < 0:
                kept = 0 if self._ended else len(self._delimiter) - 1
                cut = max(given, len(pending) - kept)
                break
            start = found + len(self._delimiter)
            end = pending.find(_HEADERS_END, start)
            if end < 0 and not self._ended and len(pending) - start <= MAX_TOTAL_HEADER_SIZE:
                cut = found  # the header block is still coming
                break
            following = pending.find(self._delimiter, start)
            if end < 0 or end - start > MAX_TOTAL_HEADER_SIZE or 0 <= following < end:
                search = start  # no header block Django would read: left to it as it is
                continue
            self._ready += pending[given:start] + self._rewritten(pending[start:end])
            given = search = end
        self._ready += pending[given:cut]
        self._pending = pending[cut:]

    def _rewritten(self, block: bytes) -> bytes:
        return b"\r\n".join(map(self._line, block.split(b"\r\n")))

    def _line(self, line: bytes) -> bytes:
        if line.isascii() and not (self._seven_bit and b"\x1b" in line):
            if b"*" not in line:
                return line
            text = line.decode("ascii")
        else:
            text = self._text(line)
        text = _EXT_FILENAME.sub(self._ext_filename, text)
        if self._codec is None:
            return text.encode("utf-8")
        return text.encode("ascii", "xmlcharrefreplace")

    def _ext_filename(self, found: re.Match) -> str:
        """A `filename*=` as Django reads it right: its charset's label read as browsers
        read it (`x-gbk`, which Python does not know), and its name written back in UTF-8,
        or, with a charset declared, as ASCII with HTML character references, which
        Django decodes again in that charset (`force_str`) unharmed. Left as written when
        its charset is none we read or its bytes are not in it."""
        codec = codec_for(found["charset"])
        if codec is None:
            return found[0]
        try:
            name = decode(unquote_to_bytes(found["value"]), codec)
        except UnicodeDecodeError:
            return found[0]
        if self._codec is not None:
            name = name.encode("ascii", "xmlcharrefreplace").decode("ascii")
        return f"{found['name']}=UTF-8''{quote(name, safe='')}"

    def _text(self, line: bytes) -> str:
        order = ["utf-8", self._codec, _FALLBACK]
        if self._seven_bit:
            order.insert(0, self._codec)
        for codec in dict.fromkeys(filter(None, order)):
            try:
                return decode(line, codec)
            except UnicodeDecodeError:
                continue
        named = "UTF-8, GB18030 nor the declared charset" if self._codec else "UTF-8 nor GB18030"
        raise MultiPartParserError(
            f"a part's header is neither {named}: send its file name in UTF-8"
        )
