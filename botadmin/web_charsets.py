"""The charsets an API body may declare: labels of the WHATWG Encoding Standard
(https://encoding.spec.whatwg.org/#names-and-labels), the names browsers and HTTP
libraries write, mapped to the Python codec that decodes them.

Not any name Python's `codecs.lookup` knows: that also finds Python's own codecs
(`unicode_escape`, `raw_unicode_escape`, `charmap`, `punycode`, `idna`, `undefined`),
which no client sends as a charset and which stored garbled text or failed unanswered.
The encodings are the ones a WeCom client writes JSON in: UTF-8, UTF-16, the Chinese
ones and latin1 (which Java labels UTF-8 text with), each with all its WHATWG labels;
UTF-32, which the WHATWG standard dropped, stays because docs/api.md promised it.
"""

import codecs

# As the standard says: GBK's labels decode as gb18030 (a superset), Big5's as
# Big5-HKSCS, latin1's and ASCII's as windows-1252, and "utf-16" means little-endian.
_LABELS = {
    "utf-8": "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8",
    "utf-16-le": "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le",
    "utf-16-be": "unicodefffe utf-16be",
    "gb18030": "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 "
    "x-gbk gb18030",
    "big5hkscs": "big5 big5-hkscs cn-big5 csbig5 x-x-big5",
    "cp1252": "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 "
    "iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
    "utf-32": "utf-32",
    "utf-32-le": "utf-32le",
    "utf-32-be": "utf-32be",
}
CODECS = {label: codec for codec, labels in _LABELS.items() for label in labels.split()}


def codec_for(charset: str) -> str | None:
    """The Python codec of a declared charset (any case, spaces around it ignored, as the
    standard's "get an encoding" does), or None for one we do not read."""
    return CODECS.get(charset.strip().lower())


# Python's cp1252 leaves five bytes undefined; the standard's windows-1252 (which every
# latin1 and ASCII label means) reads each as the C1 control of the same number, as the
# latin-1 reading of those labels did before.
_C1_ONLY_IN_THE_STANDARD = frozenset(b"\x81\x8d\x8f\x90\x9d")


def _as_c1_control(error: UnicodeError):
    undefined = error.object[error.start : error.end]
    if not isinstance(error, UnicodeDecodeError) or not set(undefined) <= _C1_ONLY_IN_THE_STANDARD:
        raise error
    return "".join(map(chr, undefined)), error.end


codecs.register_error("botadmin-windows-1252", _as_c1_control)


def decode(raw: bytes, codec: str) -> str:
    """`raw` decoded by `codec` (of `codec_for`), windows-1252 as the standard reads it."""
    return raw.decode(codec, "botadmin-windows-1252" if codec == "cp1252" else "strict")
