"""The request class of `botadmin.wsgi`: a de-chunked body read, a query string read as UTF-8.

A body sent with `Transfer-Encoding: chunked` (agents that stream it: Go's io.Reader,
Node's req.write, Python's http.client with encode_chunked) reaches Django without a
CONTENT_LENGTH; gunicorn has decoded the chunks and says, with `wsgi.input_terminated`,
that reading its input to the end is safe. Django reads such a body as empty (ticket
#35838), so the send was "not JSON" and the upload had no media.

`Request` reads such a body when it is first
asked for, at most one byte past the limit that applies, and from then on the request
has a Content-Length like any other, so every check of Content-Length holds: an
endpoint's own limit through `body_length` (`botadmin.api.refuse_body_over`, 413 with
the same errcode as for a declared length), else Django's DATA_UPLOAD_MAX_MEMORY_SIZE.

Django decodes the query string, like a form body, with the Content-Type's `charset`:
`charset=utf-16` (.NET's `StringContent(json, Encoding.Unicode, …)`) turned an ASCII
`secret=…` into other characters (93000), and a charset that is no character set
(`rot13`, `hex`, `base64`: Python's bytes-to-bytes codecs) made building the request
raise, answered with gunicorn's HTML 500 before any middleware ran. A URL is UTF-8
(RFC 3986), whatever the body is: `GET` reads it so. A form body is decoded with its
charset only when that is a label of the WHATWG Encoding Standard (`web_charsets`) of an
encoding in which ASCII stays ASCII (what `application/x-www-form-urlencoded` and
multipart headers are written in: not UTF-16), by the Python codec of that encoding
(`shift_jis` as windows-31j, `latin1` as windows-1252, as browsers read them; `utf8` as
the `utf-8` Django requires of an urlencoded form); any other
is ignored, as Django ignores one it does not know. An API body's charset is the API's
to read (`botadmin.api_body`), from `content_params`, which keeps what was declared.
A multipart part's header that Django's parser would misread (a GBK file name) is made
readable to it first (`botadmin.multipart_headers`).
"""

import tempfile

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import LimitedStream, WSGIRequest, get_bytes_from_wsgi
from django.http.request import HttpRequest, QueryDict, UnreadablePostError
from django.utils.functional import cached_property
from django.utils.http import parse_header_parameters

from .multipart_headers import PartHeadersDecoded
from .web_charsets import form_codec

_READ_SIZE = 64 * 1024


class Request(WSGIRequest):
    """Django's WSGIRequest that also reads a body of unknown length (see the module)."""

    def __init__(self, environ):
        super().__init__(environ)
        # A server that de-chunked the body gives no CONTENT_LENGTH and ends the input with it.
        self._length_unknown = bool(self.META.get("wsgi.input_terminated")) and not (
            self.META.get("CONTENT_LENGTH")
        )
        self._spool = None

    def _set_content_type_params(self, meta):
        """Django's, but `encoding` is the Python codec of a WHATWG label of an
        ASCII-compatible encoding, else left alone (see the module), and malformed parameters (an RFC 2231 `charset*=` naming no codec: Django raises)
        are none."""
        header = meta.get("CONTENT_TYPE", "")
        try:
            self.content_type, self.content_params = parse_header_parameters(header)
        except (ValueError, LookupError, UnicodeError):
            self.content_type, self.content_params = header.split(";")[0].strip().lower(), {}
        if codec := form_codec(self.content_params.get("charset", "")):
            self.encoding = codec

    def parse_file_upload(self, META, post_data):
        """Django's, its parts' header lines (a GBK file name) first made readable to it
        (botadmin.multipart_headers)."""
        boundary = self.content_params.get("boundary", "")
        if boundary and boundary.isascii():
            post_data = PartHeadersDecoded(post_data, boundary.encode(), self.encoding)
        return super().parse_file_upload(META, post_data)

    @property
    def encoding(self):
        return self._encoding

    @encoding.setter
    def encoding(self, value):
        # Django's setter also forgets (and so first builds) GET, which no charset decodes.
        self._encoding = value
        if hasattr(self, "_post"):
            del self._post

    @cached_property
    def GET(self):
        return QueryDict(get_bytes_from_wsgi(self.environ, "QUERY_STRING", ""), encoding="utf-8")

    def take_body(self, limit: int) -> None:
        """Read a body of unknown length now, at most `limit` + 1 bytes of it (kept in
        memory up to FILE_UPLOAD_MAX_MEMORY_SIZE, beyond in a temporary file), and give
        the request their number as its Content-Length. Once; nothing for a body whose
        length was declared."""
        if not self._length_unknown:
            return
        self._length_unknown = False
        source = self.environ["wsgi.input"]
        spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)
        self._spool = spool
        left = limit + 1
        try:
            while left > 0 and (chunk := source.read(min(left, _READ_SIZE))):
                spool.write(chunk)
                left -= len(chunk)
        except OSError as error:  # the client went away mid-body
            raise UnreadablePostError(*error.args) from error
        length = spool.tell()
        spool.seek(0)
        self.META["CONTENT_LENGTH"] = str(length)
        self._stream = LimitedStream(spool, length)

    def _take_body_within_djangos_limit(self) -> None:
        """Where no endpoint named its limit first: Django's, refused as Django does."""
        if not self._length_unknown:
            return
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        self.take_body(limit if limit is not None else 2**63)
        if limit is not None and int(self.META["CONTENT_LENGTH"]) > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")

    def read(self, *args, **kwargs):
        self._take_body_within_djangos_limit()
        return super().read(*args, **kwargs)

    def readline(self, *args, **kwargs):
        self._take_body_within_djangos_limit()
        return super().readline(*args, **kwargs)

    def _load_post_and_files(self):
        # The form parsers read CONTENT_LENGTH before the body.
        if self.method == "POST":
            self._take_body_within_djangos_limit()
        super()._load_post_and_files()

    def close(self):
        super().close()
        if self._spool is not None:
            self._spool.close()


def body_length(request: HttpRequest, limit: int) -> int:
    """The length of the request's body as far as `limit` goes: its Content-Length, or
    for a body of unknown length the number of bytes read of it, at most `limit` + 1.
    More than `limit` means too large."""
    if isinstance(request, Request):
        request.take_body(limit)
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
