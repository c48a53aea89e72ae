"""Request bodies without a Content-Length: the ones a WSGI server de-chunked.

A body sent with `Transfer-Encoding: chunked` (agents that stream it: Go's io.Reader,
Node's req.write, Python's http.client with encode_chunked) reaches Django without a
CONTENT_LENGTH; gunicorn has decoded the chunks and says, with `wsgi.input_terminated`,
that reading its input to the end is safe. Django reads such a body as empty (ticket
#35838), so the send was "not JSON" and the upload had no media.

`Request` (the request class of `botadmin.wsgi`) reads such a body when it is first
asked for, at most one byte past the limit that applies, and from then on the request
has a Content-Length like any other, so every check of Content-Length holds: an
endpoint's own limit through `body_length` (`botadmin.api.refuse_body_over`, 413 with
the same errcode as for a declared length), else Django's DATA_UPLOAD_MAX_MEMORY_SIZE.
"""

import tempfile

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import LimitedStream, WSGIRequest
from django.http.request import HttpRequest, UnreadablePostError

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
