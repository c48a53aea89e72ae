"""Downloading media from a URL: one request and one reading of its answer for every
caller that needs the bytes behind a link. A connector sending an image, file or voice
given by `url` (`download_media`), the archive keeping a copy of an outbound image
(messaging/media_fetch.py) and an AI bot fetching a callback's media
(`WeComAIBotConnector.fetch_media`) all use `download`.

`download` follows at most three redirects and raises `DownloadFailed` with whether a
later try may help:

* the request failed (`download_failure`): again, unless the host name does not exist
  or the URL is refused;
* the answer is no 2xx: again for 5xx, 408 and 429 (the other side is busy), never for
  the others;
* the answer has more than `max_bytes`: never again.

Its `reason` is worded as a send's failure is shown; a caller with words of its own
(the archive's media limit, an AI bot's short-lived URL) picks them by `error`,
`status` and `oversize`.
"""

from __future__ import annotations

import requests
from django.utils.translation import gettext_noop

from botadmin import http, http_failures, reasons
from botadmin.reasons import Reason

from .base import Outcome, SendRefused, media_word, too_small

ANSWERED = gettext_noop("%(what)s download answered HTTP %(status)s")
OVERSIZE = gettext_noop("%(what)s larger than %(mb)s MB")
MB = 1024 * 1024


class DownloadFailed(Exception):
    """A download that gave no bytes: `reason` says why, `again` whether a later try may
    work. `error`: the request's own failure; `status`: the HTTP status of an answer
    refused for it; `oversize`: the answer had more than the bytes allowed."""

    def __init__(
        self,
        reason: str,
        again: bool,
        *,
        error: Exception | None = None,
        status: int | None = None,
        oversize: bool = False,
    ):
        super().__init__(reason)
        self.reason = reason
        self.again = again
        self.error = error
        self.status = status
        self.oversize = oversize


def download(url: str, max_bytes: int, what: str = "media", **options) -> http.HttpResponse:
    """The answer to GET `url`: a 2xx of at most `max_bytes`, else DownloadFailed (its
    reason names the media as `what`, an msgtype or "media"). `options` go to
    `botadmin.http.request` (timeouts)."""
    try:
        response = http.request("GET", url, max_bytes=max_bytes, max_redirects=3, **options)
    except (http.UnsafeURLError, requests.RequestException) as error:
        reason, again = download_failure(error, what)
        raise DownloadFailed(reason, again, error=error) from None
    if not response.ok:
        again = response.status >= 500 or response.status in (408, 429)
        answered = Reason(ANSWERED, what=media_word(what), status=response.status)
        raise DownloadFailed(answered, again, status=response.status)
    if response.truncated:
        oversize = Reason(OVERSIZE, what=media_word(what), mb=max_bytes // MB)
        raise DownloadFailed(oversize, False, oversize=True)
    return response


def download_media(url: str, max_bytes: int, what: str = "media", min_bytes: int = 0) -> bytes:
    """The bytes at `url` (an image or file to send), at least `min_bytes` and at most
    `max_bytes`; raises SendRefused: RETRY when the other side may answer later, FAILED
    when it will not."""
    try:
        content = download(url, max_bytes, what).content
    except DownloadFailed as failed:
        outcome = Outcome.RETRY if failed.again else Outcome.FAILED
        raise SendRefused.of(outcome, failed.reason) from None
    if len(content) < min_bytes:
        raise SendRefused.of(Outcome.FAILED, too_small(what, len(content), min_bytes))
    return content


def download_failure(
    error: http.UnsafeURLError | requests.RequestException, what: str = "media"
) -> tuple[str, bool]:
    """Why downloading media from a URL failed, in words, and whether trying again may
    help: not when its host name does not exist or the URL is refused; yes when the
    request failed on its way (nothing was answered, a name server did not answer)."""
    what = media_word(what)
    if (host := http_failures.unknown_host(error)) is not None:
        no_host = gettext_noop("the %(what)s's host name does not exist: %(host)s")
        return Reason(no_host, what=what, host=host), False
    if isinstance(error, http.UnsafeURLError):
        refused = gettext_noop("%(what)s URL refused: %(error)s")
        return Reason(refused, what=what, error=reasons.of(error)), False
    failed = gettext_noop("cannot download the %(what)s: %(error)s")
    return Reason(failed, what=what, error=http_failures.failure_reason(error)), True
