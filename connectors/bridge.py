"""The bridge protocol v1 to an agent holding a WeCom account (docs/bridge-protocol.md).

A bot admin sets the agent's URL, so an answer may come from any service an agent may be
at (a wrong port, an internal API whose path a `?x=` ends before `/send`). Operators read
what botadmin makes of an answer: our words, its HTTP status and, when it is the
protocol's envelope (a JSON object with an integer `errcode`), the agent's errcode and
errmsg, on one line and shortened (`_summary`). Never the body itself: that goes to the
server's log, its secrets masked (`_log_answer`, `ConnectorError.detail`).
"""

from __future__ import annotations

import logging
import unicodedata

import requests
from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from botadmin import http, http_failures, reasons
from botadmin.forms import CheckedURLField, NoLabelSuffix, url_check_errors
from botadmin.internal_urls import InternalURLValidator
from botadmin.jsontext import DuplicateKey, unstorable
from botadmin.logging import mask_secrets
from botadmin.reasons import Reason, ngettext_noop
from botadmin.retry_after import retry_after_seconds
from conversations.secrets import generate_agent_token

from .base import (
    ALL_MSGTYPES,
    Connector,
    ConnectorError,
    ContactPage,
    FetchedMedia,
    Limits,
    MediaGone,
    MediaRef,
    Outcome,
    SendResult,
    too_large,
)

logger = logging.getLogger(__name__)

# Agent answers that mean "busy, try again" rather than "refused": the bridge protocol's
# table (docs/bridge-protocol.md section 1), not WeCom's own (`wecom_answers`).
RETRYABLE_ERRCODES = frozenset({45009, -1})
RETRYABLE_STATUSES = frozenset({408, 429})
PROTOCOL_ERROR = gettext_noop("protocol error: %(problem)s")
CONTACT_KINDS = {"user": "users", "group": "groups"}
# The protocol sets no page size: an agent may answer 20,000 users on one page (over 1 MB,
# past BOTADMIN_HTTP_MAX_RESPONSE_BYTES). A page is read up to this; a larger one fails the
# sync saying so, rather than as a cut answer that is "not JSON".
CONTACT_PAGE_MAX_BYTES = 16 * 1024 * 1024
PAGE_TOO_LARGE = {
    "user": gettext_noop(
        "protocol error: a page of users is larger than %(megabytes)s MB; the agent should "
        "answer smaller pages (next_cursor)"
    ),
    "group": gettext_noop(
        "protocol error: a page of groups is larger than %(megabytes)s MB; the agent should "
        "answer smaller pages (next_cursor)"
    ),
}
AGENT_TOKEN_MIN_LENGTH = 32
# What an agent without GET /capabilities sends (docs/bridge-protocol.md section 5).
V1_MSGTYPES = frozenset({"text", "link", "image", "miniprogram"})
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
# What "Test the connection" says of a bridge that answered the first page of groups.
GROUPS_ON_FIRST_PAGE = ngettext_noop(
    "agent answered: %(count)s group on the first page",
    "agent answered: %(count)s groups on the first page",
    "count",
)
# What the audit log stored before GROUPS_ON_FIRST_PAGE had a singular say ("1 groups"):
# kept so it translates. Its English stays as it was stored.
EARLIER_GROUPS_ON_FIRST_PAGE = gettext_noop("agent answered: %(count)s groups on the first page")


class AgentURLField(CheckedURLField):
    """An agent's base URL, checked as every call to the agent is (`http.check_url(url,
    agent=True)`): never at a link-local or unspecified address (the cloud metadata
    service), and only in BOTADMIN_AGENT_NETWORKS when that is set. The settings form's
    field, so the console, the admin and Bot.clean() (createbot) all check it. Its host may
    be a single label such as `agent` (botadmin.internal_urls)."""

    default_validators = [InternalURLValidator()]

    def check(self, url: str) -> None:
        if http.agent_networks():
            refused = _("Agents may only be in BOTADMIN_AGENT_NETWORKS (%(networks)s): %(reason)s")
        else:
            refused = _("This agent URL is not allowed: %(reason)s.")
        with url_check_errors(
            refused,
            _("The agent URL cannot be checked now: %(reason)s. Try again in a moment."),
            networks=", ".join(settings.BOTADMIN_AGENT_NETWORKS),
        ):
            http.check_url(url, agent=True)


class BridgeSettings(NoLabelSuffix, forms.Form):
    agent_url = AgentURLField(
        label=_("agent URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("The agent's base URL, e.g. http://agent.internal:8080."),
        error_messages={
            "required": _("A bridge bot needs its agent's URL."),
            "scheme": _("The agent URL must start with http:// or https://."),
        },
    )
    agent_token = forms.CharField(
        label=_("agent token"),
        min_length=AGENT_TOKEN_MIN_LENGTH,
        max_length=200,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Shared with the agent, at least 32 characters."),
        error_messages={
            "required": _("A bridge bot needs an agent token."),
            "min_length": _("The agent token must be at least %(limit_value)d characters."),
        },
    )


class BridgeConnector(Connector):
    kind = "bridge"
    setup_guide = "connectors/guides/bridge.html"
    label = _("Bridge agent")
    summary = _(
        "Sends and receives through an agent of your own that holds a WeCom account's "
        "session; needs the agent's URL and token."
    )
    docs_section = "bridge-agent"
    native_msgtypes = V1_MSGTYPES
    conversions = {
        "markdown": ("text",),
        "markdown_v2": ("markdown", "text"),
        "news": ("link", "text"),
        "link": ("news", "text"),
        "miniprogram": ("link",),
    }
    # The agent types into a WeCom client, which takes longer texts than the
    # robot does; these keep one message readable and one request small.
    limits = Limits(text=16384, markdown=16384, title=512, description=1024, image=2 * 1024**2)
    image_formats = frozenset({"JPEG", "PNG", "GIF", "WEBP"})
    allows_mentions_only = True
    idempotent = True  # the agent dedupes by message id
    lists_contacts = True
    settings_form = BridgeSettings
    generated_settings = {"agent_token": generate_agent_token}

    def msgtypes(self) -> frozenset[str]:
        """What the agent announced at its last capabilities check, else the v1 set."""
        state = self.bot.connector_state if isinstance(self.bot.connector_state, dict) else {}
        announced = state.get("msgtypes")
        if not isinstance(announced, list):
            return V1_MSGTYPES
        return frozenset(m for m in announced if m in ALL_MSGTYPES) or V1_MSGTYPES

    def learn(self) -> dict:
        """GET /capabilities (section 5): the msgtypes the agent sends; 404 means v1."""
        try:
            response = self._request("GET", "/capabilities")
        except (requests.RequestException, http.UnsafeURLError) as error:
            raise ConnectorError(_unreachable(error)) from None
        if response.status == 404:
            return {"msgtypes": sorted(V1_MSGTYPES), "capabilities": "v1"}
        data = _json_envelope(response)
        msgtypes = data.get("msgtypes")
        if not isinstance(msgtypes, list) or not all(isinstance(m, str) for m in msgtypes):
            not_a_list = gettext_noop("protocol error: `msgtypes` must be a list of strings")
            raise ConnectorError(Reason(not_a_list))
        return {"msgtypes": sorted(set(msgtypes) & ALL_MSGTYPES), "capabilities": "announced"}

    def _url(self, path: str) -> str:
        return self.bot.agent_url.rstrip("/") + path

    def _request(self, method: str, path: str, **kwargs) -> http.HttpResponse:
        headers = {"Authorization": f"Bearer {self.bot.agent_token}", **kwargs.pop("headers", {})}
        # The agent URL is set by a bot admin on purpose and usually points into a
        # private network, so private addresses are allowed (only the networks of
        # BOTADMIN_AGENT_NETWORKS, when set), never a link-local or unspecified one.
        return http.request(
            method,
            self._url(path),
            headers=headers,
            agent=True,
            connect_timeout=settings.BRIDGE_CONNECT_TIMEOUT,
            read_timeout=settings.BRIDGE_READ_TIMEOUT,
            **kwargs,
        )

    def send(self, message_id: str, conversation, body: dict) -> SendResult:
        payload = {"id": message_id, "conversation_id": conversation.conversation_id, **body}
        try:
            response = self._request(
                "POST", "/send", json=payload, headers={"Idempotency-Key": message_id}
            )
        except http.UnknownHost as error:
            # The agent's name is the operator's own (a container's, an internal zone's):
            # it may be back soon, and nothing was sent.
            return SendResult(Outcome.RETRY, detail=_unresolved(error))
        except http.UnsafeURLError as error:
            return SendResult(Outcome.FAILED, detail=_url_refused(error))
        except requests.Timeout as error:
            # Safe to repeat: the agent answers a known id without sending again.
            timed_out = gettext_noop("agent timed out: %(error)s")
            return SendResult(
                Outcome.RETRY, detail=Reason(timed_out, error=error.__class__.__name__)
            )
        except requests.RequestException as error:
            return SendResult(Outcome.RETRY, detail=_unreachable(error))
        return classify_send_answer(response)

    def fetch_media(self, ref: MediaRef, max_bytes: int) -> FetchedMedia:
        """POST /media (section 6): 200 with the bytes; 404 gone for good; the rest later."""
        payload = {
            "msgid": ref.msgid,
            "conversation_id": ref.conversation_id,
            "msgtype": ref.msgtype,
            "cdn_type": ref.cdn_type,
            "cdn": ref.cdn,
        }
        try:
            response = self._request("POST", "/media", json=payload, max_bytes=max_bytes + 1)
        except http.UnknownHost as error:
            raise ConnectorError(_unresolved(error)) from None
        except http.UnsafeURLError as error:
            raise MediaGone(_url_refused(error)) from None
        except requests.RequestException as error:
            raise ConnectorError(_unreachable(error)) from None
        if response.status == 404:
            raise MediaGone(Reason(gettext_noop("the agent cannot get this media (HTTP 404)")))
        if response.status in (401, 403):
            # Asked again later (the token may be fixed meanwhile); the bot's pages say why.
            raise _token_refused(response.status)
        if response.status != 200:
            raise ConnectorError(_answered(response), detail=_logged(response))
        if response.truncated:
            raise MediaGone(too_large(max_bytes))
        return FetchedMedia(response.content, response.headers.get("Content-Type", ""))

    def fetch_contacts(self, kind: str, cursor: str | None = None) -> ContactPage:
        path = "/" + CONTACT_KINDS[kind]
        try:
            response = self._request(
                "GET",
                path,
                params={"cursor": cursor} if cursor else None,
                max_bytes=CONTACT_PAGE_MAX_BYTES,
            )
        except http.UnsafeURLError as error:
            raise ConnectorError(_url_refused(error)) from None
        except requests.RequestException as error:
            raise ConnectorError(_unreachable(error)) from None
        if response.truncated:
            megabytes = CONTACT_PAGE_MAX_BYTES // (1024 * 1024)
            raise ConnectorError(Reason(PAGE_TOO_LARGE[kind], megabytes=megabytes))
        data = _json_envelope(response)
        items = data.get("data")
        next_cursor = data.get("next_cursor")
        if not isinstance(items, list) or not (next_cursor is None or isinstance(next_cursor, str)):
            bad_page = gettext_noop(
                "protocol error: `data` must be a list and `next_cursor` a string or null"
            )
            raise ConnectorError(Reason(bad_page))
        for item in items:
            if not (
                isinstance(item, dict)
                and isinstance(item.get("conversation_id"), str)
                and item["conversation_id"]
                and isinstance(item.get("name"), str)
            ):
                bad_item = Reason(gettext_noop("protocol error: a bad contact item"))
                raise ConnectorError(bad_item, detail=str(item)[:200])
            if problem := unstorable(item, "contact"):
                unstorable_item = Reason(PROTOCOL_ERROR, problem=problem)
                raise ConnectorError(unstorable_item, detail=str(item)[:200])
        return ContactPage(items=items, next_cursor=next_cursor or None)

    def check(self) -> str:
        page = self.fetch_contacts("group")
        return Reason(GROUPS_ON_FIRST_PAGE, count=len(page.items))


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
