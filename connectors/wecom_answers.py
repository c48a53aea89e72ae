"""What WeCom's answers mean for a send, for every WeCom connector: the group robot
(shared/spec/wecom.md), the self-built app (wecom-app.md) and the AI bot (wecom-aibot.md).

WeCom's global errcodes are the same for all its APIs (its document 96213; wecom-app.md's
"Errcodes to classify"). An errcode ≠ 0 means WeCom did nothing with the call:

* -1 (system busy), 45009 (too many calls a minute) and 45033 (too many calls at once):
  worth another try, 45009 once its minute has passed (and a random part of a quarter
  more, so that bots refused in the same second do not all call again in the same one);
* 40014 / 42001 (access token invalid / expired): only the app has a token, and
  `wecom_app_api.call` already asked for a new one;
* any other errcode refuses the message for good, WeCom's errmsg kept.

Which errcodes a connector tries again beyond the busy ones is its own, written here as
data (`ROBOT`, `APP`, `AIBOT`); what pauses a bot stays with its connector (the app's
account problems, `wecom_app_reasons`). An agent speaking the bridge protocol answers
with an errcode too, but by that protocol's own table (connectors/bridge.py,
docs/bridge-protocol.md section 1), not WeCom's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.utils.translation import gettext_noop

from botadmin import http
from botadmin.reasons import Reason

from .base import CARD_TASK_ID_ERRCODE, Outcome, SendResult, card_task_id_refused

# System busy, too many calls a minute, too many at once: nothing was done, try again.
BUSY_ERRCODES = frozenset({-1, 45009, 45033})
RATE_LIMITED_ERRCODE = 45009
# 45009 counts a minute's calls (a robot's 20, an app's per API): wait for it to pass,
# then up to a quarter of it more, at random: bots refused together (one corp's apps over
# its per-API limit, a gateway's bots subscribing after a restart) would otherwise all
# call again in the same second and be refused together again.
RATE_LIMIT_WAIT_SECONDS = 60.0
RATE_LIMIT_JITTER = 0.25
# Invalid, expired, not the latest (after the secret was reset): fetch a new token.
TOKEN_ERRCODES = frozenset({40014, 42001, 40001})
MEDIA_ID_ERRCODE = 40007  # invalid media_id
# Answered without WeCom's errcode by what stands in front of it (a gateway or proxy):
# the call did not reach WeCom, so nothing was posted.
REFUSED_IN_FRONT_STATUSES = frozenset({429, 502, 503})
UNEXPECTED_ANSWER = gettext_noop("unexpected answer: %(answer)s")


@dataclass(frozen=True)
class Errcodes:
    """How one WeCom connector reads WeCom refusing a call (errcode ≠ 0; nothing reached
    the chat): `retry`, the errcodes worth another try; any other fails the message.
    `card_task_ids`: the connector sends template cards with a task_id, so 42014 (one
    used before) is worded with what to do."""

    retry: frozenset[int]
    card_task_ids: bool = False

    def outcome(self, errcode: int) -> Outcome:
        return Outcome.RETRY if errcode in self.retry else Outcome.FAILED

    def refused(self, errcode: int, errmsg: str, detail: str | None = None, **fields) -> SendResult:
        """The result of a call WeCom refused with `errcode` (≠ 0) and `errmsg`; `detail`
        is what the attempt keeps (the errmsg, unless given); `fields` more of the result."""
        if self.card_task_ids and errcode == CARD_TASK_ID_ERRCODE:
            detail = card_task_id_refused(f"{errcode} {errmsg}".strip())
        result = SendResult(
            self.outcome(errcode), errmsg if detail is None else detail, errcode=errcode, **fields
        )
        result.retry_after = wait_after(errcode)
        return result


def wait_after(errcode: int) -> float | None:
    """Seconds to wait before the next try that WeCom's errcode asks for, if any: for
    45009, its minute and a random part of RATE_LIMIT_JITTER more (60 to 75 s)."""
    if errcode != RATE_LIMITED_ERRCODE:
        return None
    return RATE_LIMIT_WAIT_SECONDS * random.uniform(1.0, 1.0 + RATE_LIMIT_JITTER)


# The group robot: the busy errcodes only (it has no token; a forgotten media_id is
# uploaded again by the connector itself, once).
ROBOT = Errcodes(BUSY_ERRCODES)
# The app: a token still refused after `wecom_app_api.call` fetched a new one is worth
# another try too (the next one fetches again).
APP = Errcodes(BUSY_ERRCODES | TOKEN_ERRCODES, card_task_ids=True)
# The AI bot uploads its media again on each try: an unknown media_id is worth one.
AIBOT = Errcodes(BUSY_ERRCODES | {MEDIA_ID_ERRCODE}, card_task_ids=True)


def without_errcode(response: http.HttpResponse) -> SendResult:
    """An answer without WeCom's errcode, which WeCom itself never gives (it answers HTTP
    200 with JSON): refused in front of WeCom (nothing was posted: try again), or anything
    else, which may or may not have been posted."""
    if response.status in REFUSED_IN_FRONT_STATUSES:
        return SendResult(Outcome.RETRY, response.excerpt(1024), http_status=response.status)
    return SendResult(Outcome.UNCERTAIN, unexpected_answer(response), http_status=response.status)


def unexpected_answer(response: http.HttpResponse) -> Reason:
    """An answer we cannot read, in words, with its start."""
    return Reason(UNEXPECTED_ANSWER, answer=response.excerpt(1000))
