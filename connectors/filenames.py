"""The file name of a downloaded media, from its `Content-Disposition` header.

WeCom names what it serves in the download's `Content-Disposition`, as
Tencent's AI bot SDK reads it (`WecomTeam/aibot-node-sdk`, `src/api.ts`,
`downloadFileRaw`): RFC 5987's `filename*=UTF-8''%E5%91%A8%E6%8A%A5.pdf`
first, else `filename="…"`, which the SDK percent-decodes too. HTTP clients
read header bytes as Latin-1, so a plain `filename` sent as raw UTF-8 is
decoded again here.

The name is the sender's: `safe_file_name` keeps its last path part and
drops control and format characters (line breaks, bidirectional overrides)
before it is stored and shown.

The other way, `upload_name` names what botadmin uploads to WeCom (a robot's
`upload_media`, the app's `media/upload`, the AI bot's upload): WeCom shows
that name to recipients (the `filename` of the multipart part, document
90389), so it is the caller's name or the URL's last path part decoded, never
`report%20final.pdf`, keeps its extension however long it is, and gets one
from the bytes when it has none. WeCom documents no length limit for it; the
255 UTF-8 bytes are the usual file system's, and what `/api/send` accepts in
`file.name`.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from botadmin.web_charsets import codec_for, decode
from media.sniff import sniff

NAME_MAX_BYTES = 255
SUFFIX_MAX_BYTES = 16
# One `name=value` parameter; a value is a token or a quoted string with \-escapes.
_PARAMETER = re.compile(
    r';\s*(?P<name>[^\s=;]+)\s*=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<token>[^;]*))',
    re.DOTALL,
)
# RFC 5987 ext-value: charset ' [language] ' percent-encoded octets.
_EXT_VALUE = re.compile(r"^(?P<charset>[A-Za-z0-9!#$%&+\-^_`{}~]+)'[^']*'(?P<value>.*)$")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# What `upload_name` takes for an extension: "report.pdf" has one, "周报" or "v2 final" none.
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
# Signatures shared by several kinds of file: a .docx or an .apk is a zip, an .xls an OLE
# file. Named ".zip" or ".doc", such a file opens in the wrong program: it stays unnamed.
_AMBIGUOUS_EXTENSIONS = frozenset({".zip", ".doc"})


def attachment_name(disposition: str) -> str:
    """The sanitised file name a `Content-Disposition` header gives, or ""."""
    parameters: dict[str, str] = {}
    for match in _PARAMETER.finditer(";" + (disposition or "").split(";", 1)[-1]):
        value = match.group("quoted")
        if value is None:
            value = (match.group("token") or "").strip()
        else:
            value = re.sub(r"\\(.)", r"\1", value)
        parameters.setdefault(match.group("name").lower(), value)
    if "filename*" in parameters:  # RFC 6266 section 4.3: it wins over filename
        name = _ext_value(parameters["filename*"])
        if name:
            return safe_file_name(name)
    return safe_file_name(_plain_value(parameters.get("filename", "")))


def _ext_value(value: str) -> str:
    match = _EXT_VALUE.match(value.strip())
    if match is None:
        return ""
    # Its charset read as browsers read the label (botadmin.web_charsets): not Python's
    # codec names, which miss `x-gbk` and take `unicode_escape`.
    codec = codec_for(match.group("charset"))
    if codec is None:
        return ""
    try:
        return decode(unquote_to_bytes(match.group("value")), codec)
    except UnicodeDecodeError:
        return ""


def _plain_value(value: str) -> str:
    try:  # raw UTF-8 in the header, read as Latin-1 by the HTTP client
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return _percent_decoded(value)  # percent-encoded, as the SDK expects it may be


def _percent_decoded(value: str) -> str:
    """`value` with its %XX escapes decoded, when they are UTF-8 ("100%.txt" stays)."""
    if _PERCENT_ESCAPE.search(value) and _utf8_escapes(value):
        return unquote(value, errors="strict")
    return value


def _utf8_escapes(value: str) -> bool:
    try:
        unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def safe_file_name(name: str) -> str:
    """`name` without its folders, control or format characters, at most 255 UTF-8 bytes
    (cut before its extension)."""
    name = re.split(r"[/\\]", name or "")[-1]
    name = "".join(
        character
        for character in name
        if unicodedata.category(character) not in ("Cc", "Cf", "Cs", "Zl", "Zp")
    ).strip()
    if name in (".", ".."):
        return ""
    stem, dot, suffix = name.rpartition(".")
    if not stem or len(suffix.encode()) > SUFFIX_MAX_BYTES:
        stem, dot, suffix = name, "", ""
    room = NAME_MAX_BYTES - len((dot + suffix).encode())
    return _cut(stem, room) + dot + suffix  # a long name keeps its extension


def _cut(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def url_file_name(url: str) -> str:
    """The last part of a URL's path, percent-decoded, as a file name: an encoded / or \\
    becomes _ ("2024%2F06.pdf" is "2024_06.pdf"), not a folder."""
    name = _percent_decoded(urlsplit(url).path.rsplit("/", 1)[-1])
    return safe_file_name(name.replace("/", "_").replace("\\", "_"))


def upload_name(content: bytes, kind: str, name: str = "", url: str = "") -> str:
    """The file name recipients see for `content` uploaded to WeCom as `kind` (image, file,
    voice): `name`, else the last part of `url`'s path, else the kind; sanitised and cut
    to 255 bytes keeping its extension, and given one from the bytes' signature when it
    has none ("voice" of AMR bytes is "voice.amr")."""
    name = safe_file_name(name or url_file_name(url)) or kind
    if not _EXTENSION.search(name):
        extension = sniff(content)[1]
        if extension and extension not in _AMBIGUOUS_EXTENSIONS:
            # cut again, keeping the extension; "report." is "report.pdf", not "report..pdf"
            name = safe_file_name((name.rstrip(".") or kind) + extension)
    return name
