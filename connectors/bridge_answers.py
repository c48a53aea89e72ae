"""Reading an agent's answers (docs/bridge-protocol.md section 1): what operators read of
one (our words, its HTTP status, the agent's errcode and errmsg shortened, never the body)
and what the server's log keeps of it, its secrets masked (connectors/bridge.py has the
whole story)."""

from __future__ import annotations

import logging
import unicodedata

import requests
from django.utils import timezone
from django.utils.translation import gettext_noop

from botadmin import http, http_failures, reasons
from botadmin.jsontext import DuplicateKey, unstorable
from botadmin.logging import mask_secrets
from botadmin.reasons import Reason
from botadmin.retry_after import retry_after_seconds

from .base import ConnectorError, Outcome, SendResult

logger = logging.getLogger("connectors.bridge")

# Agent answers that mean "busy, try again" rather than "refused": the bridge protocol's
# table (docs/bridge-protocol.md section 1), not WeCom's own (`wecom_answers`).
RETRYABLE_ERRCODES = frozenset({45009, -1})
RETRYABLE_STATUSES = frozenset({408, 429})
PROTOCOL_ERROR = gettext_noop("protocol error: %(problem)s")
ERRMSG_LIMIT = 200  # characters of an agent's errmsg that operators read
LOGGED_ANSWER_LIMIT = 1024  # characters of an answer the log keeps
NOT_JSON = gettext_noop("protocol error: not JSON")
DUPLICATE_KEY = gettext_noop("protocol error: duplicate key %(key)s")
NO_ERRCODE = gettext_noop("protocol error: no errcode")
ANSWERED = gettext_noop("agent answered HTTP %(status)s")
# A bot's pause reason: names the setting as the bot page shows it, not its field name.
TOKEN_REFUSED = gettext_noop(
    "the agent refused botadmin's token (HTTP %(status)s); check the agent token (connector "
    "settings)"
)
# The same, as earlier releases stored it: a bot paused then still shows it translated.
gettext_noop("the agent refused botadmin's token (HTTP %(status)s); check agent_token")
ANSWERED_SAYING = gettext_noop("agent answered HTTP %(status)s: %(answer)s")


def classify_send_answer(response: http.HttpResponse) -> SendResult:
    """The answer table of docs/bridge-protocol.md section 1, worded for operators without the
    answer's body (the module's docstring): an answer that is no envelope is logged."""
    status = response.status
    envelope = _envelope(response)
    if status in (401, 403):
        return SendResult(
            Outcome.FAILED,
            detail=Reason(gettext_noop("agent refused the token (HTTP %(status)s)"), status=status),
            http_status=status,
            account_problem=Reason(TOKEN_REFUSED, status=status),
        )
    if envelope is None or status != 200:
        if envelope is None:
            _log_answer(response)
        return SendResult(
            Outcome.RETRY,
            detail=_protocol_error(response, envelope),
            http_status=status,
            retry_after=_retry_after(response) if _busy(status) else None,
        )
    errcode, errmsg, msgid = envelope["errcode"], envelope.get("errmsg"), envelope.get("msgid")
    kept = {"errmsg": errmsg, "msgid": msgid}
    if problem := unstorable({k: v for k, v in kept.items() if v is not None}, "answer"):
        _log_answer(response)
        return SendResult(
            Outcome.RETRY, detail=Reason(PROTOCOL_ERROR, problem=problem), http_status=status
        )
    said = _agent_words(errmsg)
    if errcode == 0:
        return SendResult(
            Outcome.SENT,
            detail=said,
            upstream_msgid=str(msgid or "") if isinstance(msgid, str | int) else "",
            http_status=200,
            errcode=0,
        )
    if errcode in RETRYABLE_ERRCODES:
        return SendResult(Outcome.RETRY, detail=said, http_status=200, errcode=errcode)
    return SendResult(
        Outcome.FAILED,
        detail=said or Reason(gettext_noop("errcode %(errcode)s"), errcode=errcode),
        http_status=200,
        errcode=errcode,
    )


def _protocol_error(response: http.HttpResponse, envelope: dict | None) -> Reason:
    """Why a send answered otherwise than 200 with an envelope is retried, in our words."""
    status = response.status
    if _busy(status):
        if envelope is None:
            return Reason(gettext_noop("agent busy or down (HTTP %(status)s)"), status=status)
        busy = gettext_noop("agent busy or down (HTTP %(status)s): %(answer)s")
        return Reason(busy, status=status, answer=_summary(envelope))
    if status != 200:
        if envelope is None:
            return Reason(gettext_noop("protocol error (HTTP %(status)s)"), status=status)
        unexpected = gettext_noop("protocol error (HTTP %(status)s): %(answer)s")
        return Reason(unexpected, status=status, answer=_summary(envelope))
    try:
        response.json()
    except ValueError as error:
        return _not_json(error)
    return Reason(NO_ERRCODE)


def _not_json(error: ValueError) -> Reason:
    """Why an answer is not JSON to us: an object naming a key twice says which."""
    if isinstance(error, DuplicateKey):
        return Reason(DUPLICATE_KEY, key=_agent_words(error.path))
    return Reason(NOT_JSON)


def _busy(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def _envelope(response: http.HttpResponse) -> dict | None:
    """The answer as the protocol's envelope (a JSON object with an integer errcode,
    whatever its HTTP status), or None when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    errcode = data.get("errcode")
    if not isinstance(errcode, int) or isinstance(errcode, bool):
        return None
    return data


def _summary(envelope: dict) -> Reason:
    """What operators read of an envelope: its errcode, and its errmsg if it has one."""
    errmsg = _agent_words(envelope.get("errmsg"))
    if not errmsg:
        return Reason(gettext_noop("errcode %(errcode)s"), errcode=envelope["errcode"])
    said = gettext_noop("errcode %(errcode)s, %(errmsg)s")
    return Reason(said, errcode=envelope["errcode"], errmsg=errmsg)


def _agent_words(errmsg) -> str:
    """An agent's errmsg as operators read it: a string only, on one line, without control
    or formatting characters (a bidi override would turn the page's text around), its
    secrets masked, at most ERRMSG_LIMIT characters."""
    if not isinstance(errmsg, str):
        return ""
    shown = "".join(" " if unicodedata.category(c).startswith("C") else c for c in errmsg)
    shown = mask_secrets(" ".join(shown.split()))
    return shown if len(shown) <= ERRMSG_LIMIT else shown[: ERRMSG_LIMIT - 1] + "…"


def _answered(response: http.HttpResponse) -> Reason:
    """ "agent answered HTTP 503", with the errcode and errmsg of an envelope."""
    envelope = _envelope(response)
    if envelope is None:
        return Reason(ANSWERED, status=response.status)
    return Reason(ANSWERED_SAYING, status=response.status, answer=_summary(envelope))


def _logged(response: http.HttpResponse) -> str:
    """The start of an answer as the log keeps it (`ConnectorError.detail`): secrets
    masked, and control characters escaped, so a line break in it starts no log line."""
    text = response.text[:LOGGED_ANSWER_LIMIT]
    text = "".join(repr(c)[1:-1] if unicodedata.category(c) == "Cc" else c for c in text)
    return mask_secrets(text)


def _log_answer(response: http.HttpResponse) -> None:
    """Log an answer to a send that operators read only the status of."""
    logger.warning("Agent answered a send with HTTP %s: %s", response.status, _logged(response))


def _unreachable(error: requests.RequestException) -> Reason:
    """The request's failure in words (`http_failures`), never its text: a URL's query."""
    return Reason(
        gettext_noop("agent unreachable: %(error)s"), error=http_failures.failure_reason(error)
    )


def _unresolved(error: http.UnknownHost) -> Reason:
    return Reason(gettext_noop("agent unreachable: %(error)s"), error=reasons.of(error))


def _url_refused(error: http.UnsafeURLError) -> Reason:
    return Reason(gettext_noop("agent URL refused: %(error)s"), error=reasons.of(error))


def _token_refused(status: int) -> ConnectorError:
    """The error of a call the agent answered 401 or 403: it refuses botadmin's token, which
    the bot's pages show (`account_problem`, conversations/refusals.py)."""
    refused = gettext_noop("the agent refused botadmin's token (HTTP %(status)s)")
    problem = Reason(TOKEN_REFUSED, status=status)
    return ConnectorError(Reason(refused, status=status), account_problem=problem)


def _json_envelope(response: http.HttpResponse) -> dict:
    status = response.status
    if status in (401, 403):
        raise _token_refused(status)
    if status != 200:
        raise ConnectorError(Reason(ANSWERED, status=status), detail=_logged(response))
    try:
        data = response.json()
    except ValueError as error:
        raise ConnectorError(_not_json(error), detail=_logged(response)) from None
    if not isinstance(data, dict) or data.get("errcode") != 0:
        errcode = data.get("errcode") if isinstance(data, dict) else None
        if not isinstance(errcode, int) or isinstance(errcode, bool):
            raise ConnectorError(Reason(NO_ERRCODE), detail=_logged(response))
        agent_error = Reason(gettext_noop("agent error: errcode %(errcode)s"), errcode=errcode)
        raise ConnectorError(agent_error, detail=_logged(response))
    return data


def _retry_after(response: http.HttpResponse) -> float | None:
    """The wait a busy agent, or the proxy in front of it, asks for: delay-seconds or an
    HTTP-date (a date already past asks for none)."""
    return retry_after_seconds(response.headers.get("Retry-After"), timezone.now())
