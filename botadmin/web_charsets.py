"""The charsets a request body may declare: the labels of the WHATWG Encoding Standard
(https://encoding.spec.whatwg.org/#names-and-labels), the names browsers and HTTP
libraries write, each mapped to its encoding and to the Python codec that decodes it.

Not any name Python's `codecs.lookup` knows: that also finds Python's own codecs
(`unicode_escape`, `raw_unicode_escape`, `charmap`, `punycode`, `idna`, `undefined`),
which no client sends as a charset and which stored garbled text or failed unanswered;
and it misses labels clients do send (`windows-31j`, `x-sjis`, `x-euc-jp`). Every label
of the standard is here, any case; UTF-32, which the standard dropped, stays because
docs/api.md promised it. Two encodings of the standard decode no text: "replacement"
(ISO-2022-KR, ISO-2022-CN, HZ: its decoder gives one error for the whole body, against
injection attacks) and x-user-defined (bytes 0x80–0xFF as private-use characters, a
browser's way to read binary data): a body labelled so is refused (`refusal`).
"""

import codecs

# The standard's encoding name: its Python codec, its labels. As the standard says, GBK
# decodes as gb18030 (a superset), Big5 as Big5-HKSCS, Shift_JIS as windows-31j (cp932,
# with the NEC and IBM extensions), EUC-KR as windows-949 (cp949), latin1's and ASCII's
# labels as windows-1252, and "utf-16" means little-endian. Python's koi8_u lacks the two
# Belarusian letters of the standard's KOI8-U (KOI8-RU), x-mac-cyrillic is Python's
# mac_cyrillic; EUC-JP and ISO-2022-JP are Python's euc_jp and iso2022_jp_ext (with the
# half-width katakana the standard's decoder reads).
_ENCODINGS = {
    "UTF-8": ("utf-8", "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8"),
    "IBM866": ("cp866", "866 cp866 csibm866 ibm866"),
    "ISO-8859-2": (
        "iso8859_2",
        "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2",
    ),
    "ISO-8859-3": (
        "iso8859_3",
        "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3",
    ),
    "ISO-8859-4": (
        "iso8859_4",
        "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4",
    ),
    "ISO-8859-5": (
        "iso8859_5",
        "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5 "
        "iso_8859-5:1988",
    ),
    "ISO-8859-6": (
        "iso8859_6",
        "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6 "
        "iso-8859-6-e iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987",
    ),
    "ISO-8859-7": (
        "iso8859_7",
        "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 iso8859-7 "
        "iso88597 iso_8859-7 iso_8859-7:1987 sun_eu_greek",
    ),
    "ISO-8859-8": (
        "iso8859_8",
        "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 iso8859-8 "
        "iso88598 iso_8859-8 iso_8859-8:1988 visual",
    ),
    "ISO-8859-8-I": ("iso8859_8", "csiso88598i iso-8859-8-i logical"),
    "ISO-8859-10": (
        "iso8859_10",
        "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6",
    ),
    "ISO-8859-13": ("iso8859_13", "iso-8859-13 iso8859-13 iso885913"),
    "ISO-8859-14": ("iso8859_14", "iso-8859-14 iso8859-14 iso885914"),
    "ISO-8859-15": ("iso8859_15", "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9"),
    "ISO-8859-16": ("iso8859_16", "iso-8859-16"),
    "KOI8-R": ("koi8_r", "cskoi8r koi koi8 koi8-r koi8_r"),
    "KOI8-U": ("koi8_u", "koi8-ru koi8-u"),
    "macintosh": ("mac_roman", "csmacintosh mac macintosh x-mac-roman"),
    "windows-874": ("cp874", "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874"),
    "windows-1250": ("cp1250", "cp1250 windows-1250 x-cp1250"),
    "windows-1251": ("cp1251", "cp1251 windows-1251 x-cp1251"),
    "windows-1252": (
        "cp1252",
        "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 "
        "iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 "
        "x-cp1252",
    ),
    "windows-1253": ("cp1253", "cp1253 windows-1253 x-cp1253"),
    "windows-1254": (
        "cp1254",
        "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 "
        "iso_8859-9:1989 l5 latin5 windows-1254 x-cp1254",
    ),
    "windows-1255": ("cp1255", "cp1255 windows-1255 x-cp1255"),
    "windows-1256": ("cp1256", "cp1256 windows-1256 x-cp1256"),
    "windows-1257": ("cp1257", "cp1257 windows-1257 x-cp1257"),
    "windows-1258": ("cp1258", "cp1258 windows-1258 x-cp1258"),
    "x-mac-cyrillic": ("mac_cyrillic", "x-mac-cyrillic x-mac-ukrainian"),
    "GBK": (
        "gb18030",
        "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk",
    ),
    "gb18030": ("gb18030", "gb18030"),
    "Big5": ("big5hkscs", "big5 big5-hkscs cn-big5 csbig5 x-x-big5"),
    "EUC-JP": ("euc_jp", "cseucpkdfmtjapanese euc-jp x-euc-jp"),
    "ISO-2022-JP": ("iso2022_jp_ext", "csiso2022jp iso-2022-jp"),
    "Shift_JIS": (
        "cp932",
        "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis",
    ),
    "EUC-KR": (
        "cp949",
        "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 "
        "ksc5601 ksc_5601 windows-949",
    ),
    "UTF-16BE": ("utf-16-be", "unicodefffe utf-16be"),
    "UTF-16LE": (
        "utf-16-le",
        "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le",
    ),
    "UTF-32": ("utf-32", "utf-32"),
    "UTF-32LE": ("utf-32-le", "utf-32le"),
    "UTF-32BE": ("utf-32-be", "utf-32be"),
}
# The standard's labels of encodings that decode no text (see the module).
_UNREADABLE = {
    "replacement": "csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr",
    "x-user-defined": "x-user-defined",
}
CODECS = {label: codec for codec, labels in _ENCODINGS.values() for label in labels.split()}
ENCODINGS = {label: name for name, (_, labels) in _ENCODINGS.items() for label in labels.split()}
_UNREADABLE_LABELS = {
    label: name for name, labels in _UNREADABLE.items() for label in labels.split()
}
# Whose text is also valid UTF-8, or in which ASCII is not ASCII: read by their label alone.
SEVEN_BIT = frozenset({"iso2022_jp_ext"})
WIDE = frozenset({"utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})


def _label(charset: str) -> str:
    # Any case, spaces around it ignored, as the standard's "get an encoding" does.
    return charset.strip().lower()


def codec_for(charset: str) -> str | None:
    """The Python codec of a declared charset, or None for one we do not read."""
    return CODECS.get(_label(charset))


def form_codec(charset: str) -> str | None:
    """The Python codec to read a form (urlencoded, or multipart's fields) in, for a
    declared charset in which ASCII stays ASCII, what a form's `&`, `=`, `%XX` and
    multipart's headers are written in: every encoding of the standard but UTF-16
    (and UTF-32). ISO-2022-JP starts in ASCII and returns to it. None for the others."""
    codec = codec_for(charset)
    return None if codec in WIDE else codec


def refusal(charset: str) -> str:
    """Why a charset that `codec_for` does not read is refused, for the errmsg."""
    name = _UNREADABLE_LABELS.get(_label(charset))
    if name == "replacement":
        return "the Encoding Standard reads no text in it"
    if name:
        return "it holds binary data, not text"
    return "it is no charset label of the Encoding Standard"


# Python leaves some bytes of the windows code pages undefined; the standard reads each of
# them in 0x80–0x9F as the C1 control of the same number (windows-1252's five, as the
# latin-1 reading of its labels did before; windows-1253's 0xAA stays an error).
_WINDOWS = frozenset({"cp874", *(f"cp{page}" for page in range(1250, 1259))})


def _as_c1_control(error: UnicodeError):
    undefined = error.object[error.start : error.end]
    if not isinstance(error, UnicodeDecodeError) or not all(0x80 <= b <= 0x9F for b in undefined):
        raise error
    return "".join(map(chr, undefined)), error.end


codecs.register_error("botadmin-windows-c1", _as_c1_control)


def _as_c1_control_or_replacement(error: UnicodeError):
    try:
        return _as_c1_control(error)
    except UnicodeError:
        return "\ufffd", error.end


codecs.register_error("botadmin-windows-c1-replace", _as_c1_control_or_replacement)


def replacing_errors(codec: str) -> str:
    """The `errors` handler that decodes `codec` as the standard does, an undecodable
    byte as U+FFFD (a windows code page's undefined C1 bytes as their controls)."""
    return "botadmin-windows-c1-replace" if codec in _WINDOWS else "replace"


def decode(raw: bytes, codec: str) -> str:
    """`raw` decoded by `codec` (of `codec_for`), a windows code page as the standard
    reads it."""
    return raw.decode(codec, "botadmin-windows-c1" if codec in _WINDOWS else "strict")
